using System.Net;
using System.Net.Sockets;
using GuestMemory.Migration;
using GuestMemory.Tests.State;

namespace GuestMemory.Tests.Migration;

/// <summary>
/// Two GuestMemory hosts in one test process, a source and a target, each its own
/// <see cref="GlobalMemoryManager"/>, talking over real loopback TCP: the target receives on a thread of
/// its own (as a second host would), the source runs on the test's thread.
/// </summary>
internal sealed class MigrationHosts : IDisposable
{
    private readonly MigrationEndpoint _endpoint = new(IPAddress.Loopback, 0);

    public MigrationHosts(int sourceMib = 32, int targetMib = 32)
    {
        Source = new StateTestHost(sourceMib);
        Target = new StateTestHost(targetMib);
    }

    public StateTestHost Source { get; }
    public StateTestHost Target { get; }

    /// <summary>The target's options for VMs of <see cref="StateTestHost"/>'s layout.</summary>
    public static IncomingOptions TargetOptions => new() { RegisterRanges = StateTestHost.RegisterDevices, Timeout = TimeSpan.FromSeconds(20) };

    /// <summary>The source's options: short timeouts, so a test of a lost peer fails fast.</summary>
    public static MoveOptions SourceOptions => new() { Timeout = TimeSpan.FromSeconds(20) };

    /// <summary>Starts a target that accepts the next connection on the target host and receives one moved VM.</summary>
    public Task<ReceivedVm> ReceiveOne(IncomingOptions? options = null) =>
        Task.Run(() =>
        {
            using NetworkStream connection = Accept();
            return Target.Gmm.ReceiveVm(connection, options ?? TargetOptions);
        });

    /// <summary>The target's end of the next connection to the listener.</summary>
    public NetworkStream Accept() => _endpoint.Accept();

    /// <summary>The source's end of a new connection to the target's listener (or to <paramref name="port"/>, a proxy in front of it).</summary>
    public NetworkStream Connect(int? port = null) => MigrationEndpoint.Connect("127.0.0.1", port ?? _endpoint.Port);

    /// <summary>The listener's port (for a proxy to forward to).</summary>
    public int Port => _endpoint.Port;

    /// <summary>Both consistency checks, the source's first.</summary>
    public void Verify()
    {
        Source.Gmm.Verify();
        Target.Gmm.Verify();
    }

    public void Dispose()
    {
        _endpoint.Dispose();
        Source.Dispose();
        Target.Dispose();
    }
}
