using System.Net;
using System.Net.Sockets;

namespace GuestMemory.Migration;

/// <summary>
/// Plain TCP for migration sessions (no other transport is assumed): connect to a target, or listen for
/// sources. Nagle is off so the small control frames (queries, answers, COMMIT, RESUME) go out at once.
/// </summary>
public sealed class MigrationEndpoint : IDisposable
{
    private readonly TcpListener _listener;

    /// <summary>Listens on <paramref name="address"/>:<paramref name="port"/> (port 0: any free port, see <see cref="Port"/>).</summary>
    /// <exception cref="GmmException"><see cref="GmmError.InvalidArgument"/> for a port outside 0..65535.</exception>
    /// <exception cref="SocketException">The address is in use or not this host's.</exception>
    public MigrationEndpoint(IPAddress address, int port)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (port is < 0 or > 65535) throw new GmmException(GmmError.InvalidArgument, $"port {port} is outside 0..65535");
        _listener = new TcpListener(address, port);
        _listener.Start();
    }

    /// <summary>The port listened on.</summary>
    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <summary>Waits for the next source and returns its connection.</summary>
    public NetworkStream Accept(CancellationToken cancel = default)
    {
        Socket socket = _listener.AcceptSocketAsync(cancel).AsTask().GetAwaiter().GetResult();
        socket.NoDelay = true;
        return new NetworkStream(socket, ownsSocket: true);
    }

    /// <summary>Connects to a listening target.</summary>
    /// <exception cref="GmmException"><see cref="GmmError.MigrationConnectionLost"/> when it cannot connect.</exception>
    /// <exception cref="GmmException"><see cref="GmmError.InvalidArgument"/> for an empty host or a port outside 1..65535.</exception>
    public static NetworkStream Connect(string host, int port)
    {
        if (string.IsNullOrWhiteSpace(host)) throw new GmmException(GmmError.InvalidArgument, "a target needs a host name or address");
        if (port is < 1 or > 65535) throw new GmmException(GmmError.InvalidArgument, $"port {port} is outside 1..65535");
        var client = new TcpClient { NoDelay = true };
        try
        {
            client.Connect(host, port);
        }
        catch (SocketException e)
        {
            client.Dispose();
            throw new GmmException(GmmError.MigrationConnectionLost, $"cannot connect to {host}:{port}: {e.Message}", e);
        }
        return client.GetStream(); // owns the socket: disposing the stream closes it
    }

    /// <summary>Stops listening.</summary>
    public void Dispose() => _listener.Stop();
}
