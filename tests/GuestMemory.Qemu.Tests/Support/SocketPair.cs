using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace GuestMemory.Qemu.Tests.Support;

/// <summary>
/// Two connected Unix stream sockets: <see cref="Client"/> for the code under test, <see cref="Peer"/>
/// for the test playing QEMU or the guest (sending well-formed, malformed or hostile lines).
/// </summary>
internal sealed class SocketPair : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("gmm-sock-").FullName;
    private readonly StreamReader _peerReader;

    public SocketPair()
    {
        string path = Path.Combine(_dir, "s");
        using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(path));
        listener.Listen(1);
        var client = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        client.Connect(new UnixDomainSocketEndPoint(path));
        Socket peer = listener.Accept();
        Client = new NetworkStream(client, ownsSocket: true);
        Peer = new NetworkStream(peer, ownsSocket: true);
        _peerReader = new StreamReader(Peer, Encoding.UTF8, false, 1024, leaveOpen: true);
    }

    public NetworkStream Client { get; }
    public NetworkStream Peer { get; }

    /// <summary>Sends raw text from the peer.</summary>
    public void Send(string text)
    {
        Peer.Write(Encoding.UTF8.GetBytes(text));
        Peer.Flush();
    }

    public void Send(byte[] bytes)
    {
        Peer.Write(bytes);
        Peer.Flush();
    }

    /// <summary>The next line the client sent, or null when it closed.</summary>
    public async Task<string?> ReadLineAsync() =>
        await _peerReader.ReadLineAsync(TestContext.Current.CancellationToken).AsTask().WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);

    /// <summary>The next QMP command the client sent: its name and id.</summary>
    public async Task<(string Execute, long Id, JsonElement Arguments)> ReadCommandAsync()
    {
        string line = await ReadLineAsync() ?? throw new InvalidOperationException("the client closed");
        using JsonDocument doc = JsonDocument.Parse(line);
        JsonElement args = doc.RootElement.TryGetProperty("arguments", out JsonElement a) ? a.Clone() : default;
        return (doc.RootElement.GetProperty("execute").GetString()!, doc.RootElement.GetProperty("id").GetInt64(), args);
    }

    /// <summary>Closes the peer's side (as a killed QEMU would).</summary>
    public void ClosePeer() => Peer.Socket.Close();

    public void Dispose()
    {
        Client.Dispose();
        Peer.Dispose();
        Directory.Delete(_dir, recursive: true);
    }
}
