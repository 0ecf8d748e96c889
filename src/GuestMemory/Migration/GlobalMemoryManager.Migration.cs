using GuestMemory.Migration;
using GuestMemory.Migration.Target;

namespace GuestMemory;

public sealed partial class GlobalMemoryManager
{
    /// <summary>
    /// Receives a VM that a source moves here (<see cref="VirtualMachine.MoveTo(Stream, Action, Action, MoveOptions?, IProgress{MigrationProgress}?)"/>)
    /// over <paramref name="connection"/>: creates it from the source's options (or refuses up front with
    /// the Gmm's typed error), stages every pass beside it, commits the image in one step, and returns
    /// once the source said RESUME and <see cref="IncomingOptions.Resume"/> ran. The connection is closed at the end.
    /// </summary>
    /// <exception cref="GmmException">Nothing of the VM is left on this host: <see cref="GmmError.MigrationRefused"/> (the reason inside),
    /// <see cref="GmmError.MigrationAborted"/> (the source's error inside), <see cref="GmmError.MigrationConnectionLost"/>,
    /// <see cref="GmmError.MigrationStreamCorrupt"/>, <see cref="GmmError.MigrationVersionUnsupported"/>, or the Gmm's errors
    /// when pages run out while staging (<see cref="GmmError.HitGlobalLimit"/>, <see cref="GmmError.ReservationDeclined"/>...).</exception>
    public ReceivedVm ReceiveVm(Stream connection, IncomingOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(connection);
        options ??= new IncomingOptions();
        options.Validate();
        using var session = new IncomingSession(this, connection, options);
        try
        {
            session.Accept(MigrationMode.Move);
            session.Run(MigrationMode.Move);
            return new ReceivedVm(session.Vm!, session.Report());
        }
        catch (Exception e) when (e is not GmmException { Error: GmmError.MigrationRefused })
        {
            GmmException reason = IncomingSession.Reason(e);
            session.Abandon(reason, keepCommitted: false);
            if (e is not GmmException) throw;
            throw new GmmException(reason.Error, $"receiving {session.Vm?.Name ?? "a VM"} failed (nothing of it is kept): {reason.Message}", reason.InnerException ?? reason);
        }
    }

    /// <summary>
    /// Becomes the standby of a VM a source mirrors here (<see cref="VirtualMachine.StartMirror(Stream, Action, Action, MoveOptions?, IProgress{MigrationProgress}?)"/>):
    /// checks HELLO and creates the VM (or refuses up front), then receives checkpoints on a thread of its
    /// own, each committed in one step once complete. <see cref="MirrorStandby.TakeOver"/> hands the VM over.
    /// </summary>
    /// <exception cref="GmmException">The handshake failed: <see cref="GmmError.MigrationRefused"/> (the reason inside), or the connection's errors.</exception>
    public MirrorStandby StartStandby(Stream connection, IncomingOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(connection);
        options ??= new IncomingOptions();
        options.Validate();
        var session = new IncomingSession(this, connection, options);
        try
        {
            session.Accept(MigrationMode.Mirror);
            return new MirrorStandby(this, session);
        }
        catch
        {
            session.Dispose();
            throw;
        }
    }
}

/// <summary>A VM a move brought to this host, and what the move took.</summary>
public sealed record ReceivedVm(VirtualMachine Vm, IncomingReport Report);
