using System.Net.Sockets;
using GuestMemory.Migration;
using GuestMemory.Migration.Source;

namespace GuestMemory;

public sealed partial class VirtualMachine
{
    /// <summary>
    /// Moves this running VM to the target at the other end of <paramref name="connection"/> (a host that
    /// called <see cref="GlobalMemoryManager.ReceiveVm"/>): pre-copy passes while the guest runs, then
    /// <paramref name="pauseWriters"/> (which must return with every writer of guest memory stopped), the
    /// final pass, and once the target has committed and resumed the VM, this VM is destroyed. The
    /// connection is closed at the end.
    /// </summary>
    /// <param name="connection">A duplex stream to the target (a <see cref="NetworkStream"/>).</param>
    /// <param name="pauseWriters">Stops the guest (vCPUs, device DMA, mapping holders).</param>
    /// <param name="resumeWriters">Lets the guest run again here, when the move fails after the pause.</param>
    /// <param name="options">Convergence and timeouts.</param>
    /// <param name="progress">Reports after each pass and phase change, on the calling thread.</param>
    /// <exception cref="GmmException">The move failed and the VM keeps running here, unchanged:
    /// <see cref="GmmError.MigrationRefused"/> (the target's error inside), <see cref="GmmError.MigrationAborted"/>,
    /// <see cref="GmmError.MigrationConnectionLost"/>, <see cref="GmmError.MigrationStreamCorrupt"/>,
    /// <see cref="GmmError.MigrationVersionUnsupported"/>, <see cref="GmmError.StateLayoutMismatch"/>; or
    /// <see cref="GmmError.MigrationInDoubt"/>: the target may be running the VM, which stays paused here.</exception>
    /// <exception cref="GmmException"><see cref="GmmError.InvalidArgument"/> for a stream that cannot both read and write.</exception>
    /// <exception cref="InvalidOperationException">A live save or another migration of this VM is running.</exception>
    public MoveReport MoveTo(Stream connection, Action pauseWriters, Action resumeWriters, MoveOptions? options = null, IProgress<MigrationProgress>? progress = null) =>
        new MoveSession(this, pauseWriters, resumeWriters, Checked(connection, pauseWriters, resumeWriters, options), progress).Run(connection);

    /// <summary>Connects to a target listening at <paramref name="host"/>:<paramref name="port"/> and moves this VM there; see <see cref="MoveTo(Stream, Action, Action, MoveOptions?, IProgress{MigrationProgress}?)"/>.</summary>
    /// <exception cref="GmmException">As the stream overload; <see cref="GmmError.InvalidArgument"/> for a port outside 1..65535
    /// or an empty host; <see cref="GmmError.MigrationConnectionLost"/> when it cannot connect.</exception>
    public MoveReport MoveTo(string host, int port, Action pauseWriters, Action resumeWriters, MoveOptions? options = null, IProgress<MigrationProgress>? progress = null)
    {
        ThrowIfDestroyed();
        Checked(Stream.Null, pauseWriters, resumeWriters, options);
        return MoveTo(MigrationEndpoint.Connect(host, port), pauseWriters, resumeWriters, options, progress);
    }

    /// <summary>
    /// Starts mirroring this running VM to the standby at the other end of <paramref name="connection"/> (a
    /// host that called <see cref="GlobalMemoryManager.StartStandby"/>). Take checkpoints with
    /// <see cref="MirrorSource.Checkpoint"/> or <see cref="MirrorSource.Run"/>; each pauses the guest with
    /// <paramref name="pauseWriters"/> only while the pages it dirtied are copied, then <paramref name="resumeWriters"/>.
    /// <paramref name="options"/> set the first checkpoint's pre-copy (as for a move) and the timeouts.
    /// </summary>
    /// <exception cref="GmmException">The handshake failed: <see cref="GmmError.MigrationRefused"/> (the standby's error inside), or the connection's errors.</exception>
    /// <exception cref="InvalidOperationException">A live save or a migration of this VM is running.</exception>
    public MirrorSource StartMirror(Stream connection, Action pauseWriters, Action resumeWriters, MoveOptions? options = null, IProgress<MigrationProgress>? progress = null) =>
        new(this, connection, pauseWriters, resumeWriters, Checked(connection, pauseWriters, resumeWriters, options), progress);

    /// <summary>The arguments every migration source takes, checked; the options (or the defaults), validated.</summary>
    private static MoveOptions Checked(Stream connection, Action pauseWriters, Action resumeWriters, MoveOptions? options)
    {
        ArgumentNullException.ThrowIfNull(connection);
        if (!connection.CanRead || !connection.CanWrite)
            throw new GmmException(GmmError.InvalidArgument, $"a migration needs a stream that reads and writes (this one {(connection.CanRead ? "cannot write" : connection.CanWrite ? "cannot read" : "is closed")})");
        ArgumentNullException.ThrowIfNull(pauseWriters);
        ArgumentNullException.ThrowIfNull(resumeWriters);
        options ??= new MoveOptions();
        options.Validate();
        return options;
    }
}
