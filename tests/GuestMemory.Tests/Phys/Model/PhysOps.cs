namespace GuestMemory.Tests.Phys.Model;

/// <summary>
/// One operation of the model-based test. Each carries everything it needs (addresses, lengths, data seeds), so
/// any sub-list still replays: that is what lets the runner shrink a failure.
/// </summary>
internal abstract record PhysOp;

internal sealed record WriteOp(int Vm, ulong Address, int Length, int Seed) : PhysOp;
internal sealed record ReadOp(int Vm, ulong Address, int Length) : PhysOp;
internal sealed record WriteUInt64Op(int Vm, ulong Address, ulong Value) : PhysOp;
internal sealed record ReadUInt64Op(int Vm, ulong Address) : PhysOp;
/// <summary>Writes a whole page with one of a few patterns, so identical pages (to merge) are common.</summary>
internal sealed record FillPageOp(int Vm, int Page, byte Pattern) : PhysOp;
internal sealed record MapWriteOp(int Vm, int Page, int Offset, int Length, int Seed) : PhysOp;
internal sealed record MapReadOp(int Vm, int Page) : PhysOp;
internal sealed record ResetOp(int Vm) : PhysOp;
/// <summary>Fusion-like: arm monitoring on both pages, then merge them into a shared page if identical (or into the zero page).</summary>
internal sealed record MergeOp(int Vm, int Page, int OtherVm, int OtherPage) : PhysOp;
internal sealed record ArmOp(int Vm, int Page) : PhysOp;
/// <summary>Gives a page that is on the zero page to the balloon (by request, until the balloon API exists).</summary>
internal sealed record BalloonOp(int Vm, int Page) : PhysOp;
internal sealed record ReclaimOp : PhysOp;
internal sealed record VerifyOp : PhysOp;
/// <summary>Saves the VM (paused: the model runs one operation at a time) and keeps the state and the model's view of it.</summary>
internal sealed record SaveOp(int Vm) : PhysOp;
/// <summary>Restores the VM's last saved state: its content goes back to what the model kept.</summary>
internal sealed record RestoreOp(int Vm) : PhysOp;
/// <summary>Restores the last saved state with one byte changed: a typed error, the VM unchanged.</summary>
internal sealed record CorruptRestoreOp(int Vm, int Position, byte Xor) : PhysOp;
/// <summary>Moves the VM live to the other of two managers over loopback TCP: its content must arrive unchanged.</summary>
internal sealed record MoveOp(int Vm) : PhysOp;
