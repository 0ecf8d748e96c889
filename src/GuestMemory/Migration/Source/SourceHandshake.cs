using GuestMemory.Phys;
using GuestMemory.State;

namespace GuestMemory.Migration.Source;

/// <summary>
/// The source's side of the handshake: HELLO with the VM's options, layout and counts (the non-zero
/// pages a restore of it needs, counted the way the saved state counts them), then ACCEPT or REFUSE.
/// </summary>
internal static class SourceHandshake
{
    /// <summary>Returns the target's acceptance.</summary>
    /// <exception cref="GmmException"><see cref="GmmError.MigrationRefused"/> with the target's own error inside.</exception>
    public static Acceptance Run(MigrationConnection connection, VirtualMachine vm, MemoryRange[] ranges, MigrationMode mode)
    {
        StateHeader plan = StatePlan.Count(vm.Manager.Pages.Host, ranges);
        new Hello(mode, vm.Options, plan.Layout, plan.NonZeroPages, plan.BalloonedPages).WriteTo(connection.Payload());
        connection.Send(MessageType.Hello);
        Frame answer = connection.Expect(MessageType.Accept, MessageType.Refuse);
        if (answer.Type == MessageType.Accept) return Acceptance.Read(answer.Payload);
        GmmException remote = Failure.Read(answer.Payload, "REFUSE").ToException();
        throw new GmmException(GmmError.MigrationRefused, $"the target refused {vm}: {remote.Message}", remote);
    }
}
