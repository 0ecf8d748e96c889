using System.Net.Sockets;
using System.Text.Json.Nodes;
using GuestMemory.Cli.Output;
using GuestMemory.Migration;

namespace GuestMemory.Cli.Commands;

/// <summary>
/// The sessions of <c>gmm migrate listen</c>: accepts connections until the asked number came, serves up
/// to <see cref="ListenSettings.MaxConcurrent"/> of them at once (a peer that sends one byte a second
/// holds one slot, not the listener), and reports each session's end on its own: a summary of the VM that
/// arrived, or the failure (random bytes, a peer that connects and closes, a refused HELLO). No session's
/// failure stops the others. Ctrl+C stops accepting and closes the open connections.
/// </summary>
/// <remarks>
/// <see cref="GlobalMemoryManager.ReceiveVm"/> runs on several threads at once here, one per session; the
/// manager is built for concurrent callers. The consistency check after each session and the printing
/// are serialised, so summaries never interleave.
/// </remarks>
internal sealed class ListenerSessions(GlobalMemoryManager gmm, MigrationEndpoint endpoint, ListenSettings settings)
{
    private readonly Lock _report = new();
    private readonly List<NetworkStream> _open = [];
    private int _failed;

    /// <summary>Serves every session and returns how many failed.</summary>
    public int Serve(CancellationToken cancel)
    {
        using var slots = new SemaphoreSlim(settings.MaxConcurrent);
        using CancellationTokenRegistration stop = cancel.Register(CloseAll);
        var running = new List<Task>();
        try
        {
            for (int session = 1; session <= settings.Sessions; session++)
            {
                slots.Wait(cancel);
                NetworkStream connection;
                try
                {
                    connection = endpoint.Accept(cancel);
                }
                catch
                {
                    slots.Release();
                    throw;
                }
                lock (_open) _open.Add(connection);
                int number = session;
                running.Add(Task.Run(() =>
                {
                    try { Receive(number, connection); }
                    finally
                    {
                        lock (_open) _open.Remove(connection);
                        slots.Release();
                    }
                }, CancellationToken.None));
            }
        }
        finally
        {
            Task.WaitAll(running); // every session ends (the cancellation closed their connections) before the manager goes
        }
        return _failed;
    }

    private void Receive(int session, NetworkStream connection)
    {
        try
        {
            ReceivedVm received;
            using (connection) received = gmm.ReceiveVm(connection);
            lock (_report)
            {
                gmm.Verify();
                ReceivedVmReport.Print(session, gmm, received, settings.Digest, settings.Json);
            }
            gmm.DestroyVm(received.Vm);
        }
        catch (Exception e) // a session boundary: whatever one peer caused is that session's failure, never the listener's
        {
            Interlocked.Increment(ref _failed);
            CliFailure failure = CliFailure.From(e) ?? new CliFailure(nameof(CliError.Unexpected), $"{e.GetType().Name}: {e.Message}");
            lock (_report) ErrorReport.Write(failure, new JsonObject { ["session"] = session }, $"session {session}");
        }
    }

    private void CloseAll()
    {
        lock (_open)
            foreach (NetworkStream connection in _open) connection.Dispose();
    }
}
