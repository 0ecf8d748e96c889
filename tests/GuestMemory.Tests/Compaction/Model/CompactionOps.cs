namespace GuestMemory.Tests.Compaction.Model;

/// <summary>
/// One random operation of the compaction model test. VMs are named by slot and pages by number or by a
/// <c>Pick</c> seed resolved against the model when applied, so a shrunk list still makes sense.
/// </summary>
internal abstract record CompactionOp;

/// <summary>Write a whole page (or, when <c>Partial</c>, 64 bytes at <c>Offset</c>) of content <c>Content</c>: below <see cref="CompactionOpGenerator.PoolSize"/> a shared pool, so duplicates are common.</summary>
internal sealed record WriteOp(int Vm, int Page, int Content, bool Partial, int Offset) : CompactionOp;

/// <summary>Write <c>Count</c> whole pages from <c>Start</c> (wrapping around): pool contents from <c>Content</c> on when <c>Pooled</c>, else unique ones.</summary>
internal sealed record FillOp(int Vm, int Start, int Count, int Content, bool Pooled) : CompactionOp;

/// <summary>Read a page and compare it with the model.</summary>
internal sealed record ReadOp(int Vm, int Page) : CompactionOp;

/// <summary>The guest gives <c>Count</c> of its pages that are not in the balloon to it.</summary>
internal sealed record BalloonOp(int Vm, int Count, int Pick) : CompactionOp;

/// <summary>The guest takes <c>Count</c> pages back out of its balloon.</summary>
internal sealed record DeflateOp(int Vm, int Count, int Pick) : CompactionOp;

/// <summary>Reset the VM: every page reads as zero, the balloon is empty.</summary>
internal sealed record ResetOp(int Vm) : CompactionOp;

/// <summary>Destroy the VM (compacting at shutdown) and create a new, empty one in its slot.</summary>
internal sealed record RecreateOp(int Vm) : CompactionOp;

/// <summary>One page fusion pass.</summary>
internal sealed record FusionPassOp : CompactionOp;

/// <summary>One compaction run with this sparse threshold.</summary>
internal sealed record CompactOp(double Threshold) : CompactionOp;

/// <summary>Map a page for reading, compact while it is mapped, and check the mapping still shows its bytes.</summary>
internal sealed record CompactWhileMappedOp(int Vm, int Page) : CompactionOp;
