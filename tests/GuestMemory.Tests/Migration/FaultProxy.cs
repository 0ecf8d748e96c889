using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using GuestMemory.Migration;

namespace GuestMemory.Tests.Migration;

/// <summary>Which way a frame travels.</summary>
internal enum Direction { SourceToTarget, TargetToSource }

/// <summary>What the proxy does to the frame it picked.</summary>
internal enum FaultAction
{
    /// <summary>Resets both connections instead of forwarding the frame (a network failure, a crashed peer).</summary>
    Drop,
    /// <summary>Flips the bits of the byte at <see cref="Fault.Offset"/> of the frame (header included) and forwards it.</summary>
    Corrupt,
    /// <summary>Forwards the first <see cref="Fault.Offset"/> bytes of the frame, then closes both connections cleanly.</summary>
    Truncate,
}

/// <summary>
/// The frame to pick: the <paramref name="Occurrence"/>-th frame of <paramref name="Type"/> going
/// <paramref name="Direction"/>, counted only once a frame of <paramref name="After"/> has gone by (if given).
/// </summary>
internal sealed record Fault(Direction Direction, MessageType Type, int Occurrence, FaultAction Action, int Offset = 0, MessageType? After = null)
{
    public override string ToString() => $"{Action} {Type} #{Occurrence}{(After is { } a ? $" after {a}" : "")} ({Direction})";
}

/// <summary>
/// A TCP proxy between a source and a target on loopback that understands the migration protocol's
/// framing (each frame's header gives its tag and length), so a test can break the connection at an
/// exact protocol point: drop it, corrupt one byte, or cut one frame short. Everything else is
/// forwarded unchanged, frame by frame.
/// </summary>
internal sealed class FaultProxy : IDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly Fault _fault;
    private readonly Task _run;
    private Socket? _source, _target;
    private int _seen;
    private volatile bool _armed;

    public FaultProxy(int targetPort, Fault fault)
    {
        _fault = fault;
        _armed = fault.After == null;
        _listener.Start();
        _run = Task.Run(() => Run(targetPort));
    }

    /// <summary>Where the source connects.</summary>
    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <summary>True once the fault was applied.</summary>
    public bool Triggered { get; private set; }

    private async Task Run(int targetPort)
    {
        _source = await _listener.AcceptSocketAsync();
        _target = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await _target.ConnectAsync(IPAddress.Loopback, targetPort);
        _source.NoDelay = true;
        await Task.WhenAll(Task.Run(() => Pump(_source, _target, Direction.SourceToTarget)), Task.Run(() => Pump(_target, _source, Direction.TargetToSource)));
    }

    private void Pump(Socket from, Socket to, Direction direction)
    {
        byte[] frame = new byte[MigrationProtocol.FrameHeaderBytes + MigrationProtocol.MaxPayload];
        try
        {
            while (ReadExactly(from, frame.AsSpan(0, MigrationProtocol.FrameHeaderBytes)))
            {
                var type = (MessageType)BinaryPrimitives.ReadUInt32LittleEndian(frame);
                int length = (int)Math.Min(BinaryPrimitives.ReadUInt32LittleEndian(frame.AsSpan(8)), (uint)MigrationProtocol.MaxPayload);
                int total = MigrationProtocol.FrameHeaderBytes + length;
                if (!ReadExactly(from, frame.AsSpan(MigrationProtocol.FrameHeaderBytes, length))) break;
                if (!Forward(to, frame.AsSpan(0, total), type, direction)) return;
            }
            to.Shutdown(SocketShutdown.Send); // the sender closed: pass the end of stream on
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            // the other pump closed the connections
        }
        catch
        {
            CloseBoth(abortive: true); // a bug in the test's fault: end the session at once rather than let both sides wait
            throw;
        }
    }

    /// <summary>Forwards one frame, applying the fault if this is the frame; false when the connections are closed.</summary>
    private bool Forward(Socket to, Span<byte> frame, MessageType type, Direction direction)
    {
        bool picked = false;
        lock (_listener)
        {
            if (direction == _fault.Direction && !Triggered)
            {
                if (_armed && type == _fault.Type && ++_seen == _fault.Occurrence) picked = Triggered = true;
                if (type == _fault.After) _armed = true;
            }
        }
        if (!picked)
        {
            to.Send(frame);
            return true;
        }
        switch (_fault.Action)
        {
            case FaultAction.Corrupt:
                Assert.InRange(_fault.Offset, 0, frame.Length - 1);
                frame[_fault.Offset] ^= 0xFF;
                to.Send(frame);
                return true;
            case FaultAction.Truncate:
                to.Send(frame[.._fault.Offset]);
                CloseBoth(abortive: false);
                return false;
            default:
                CloseBoth(abortive: true);
                return false;
        }
    }

    private void CloseBoth(bool abortive)
    {
        foreach (Socket? socket in new[] { _source, _target })
        {
            if (socket == null) continue;
            if (abortive) socket.LingerState = new LingerOption(true, 0); // reset, as a failed network or a dead peer would
            else socket.Shutdown(SocketShutdown.Both);
            socket.Close();
        }
    }

    private static bool ReadExactly(Socket socket, Span<byte> buffer)
    {
        while (!buffer.IsEmpty)
        {
            int n = socket.Receive(buffer);
            if (n == 0) return false;
            buffer = buffer[n..];
        }
        return true;
    }

    public void Dispose()
    {
        _listener.Stop();
        _source?.Dispose();
        _target?.Dispose();
        try
        {
            _run.Wait(TimeSpan.FromSeconds(10));
        }
        catch (AggregateException)
        {
            // a pump ended with the sockets: nothing to report
        }
    }
}
