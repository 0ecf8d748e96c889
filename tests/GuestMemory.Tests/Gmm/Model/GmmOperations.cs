using GuestMemory.Gmm;

namespace GuestMemory.Tests.Gmm.Model;

/// <summary>
/// One random operation against the Gmm. Operations name a VM by slot and the pages they act on by a
/// <c>Pick</c> seed, resolved against the model when applied, so a shrunk list still makes sense.
/// </summary>
internal abstract record GmmOp(int Vm);

/// <summary>A deliberate mistake an operation may carry, to exercise one error path.</summary>
internal enum PageFault { None, ForeignPage, WrongAccount, RepeatedInBatch, StalePage, UnknownId, SharedNotHeld, PrivatePage, BadFrame }

/// <summary>What a map/unmap operation names.</summary>
internal enum MapKind { Map, Unmap, MapAndUnmap, Neither, UnknownChunk, StaleChunk }

/// <summary>Allocate pages for an account; <c>OverLimit</c> asks for one more than the account allows.</summary>
internal sealed record AllocateOp(int Vm, GmmAccount Account, int Count, bool Zero, bool OverLimit, bool HostRefuses) : GmmOp(Vm);

/// <summary>Record guest frames for some handy pages, then ask for a new batch.</summary>
internal sealed record HandyOp(int Vm, int Updates, int NewPages, PageFault Fault, int Pick) : GmmOp(Vm);

/// <summary>Free private pages of an account and (base only) drop shared references.</summary>
internal sealed record FreeOp(int Vm, GmmAccount Account, int Count, int SharedReferences, PageFault Fault, int Pick) : GmmOp(Vm);

/// <summary>Allocate a new shared page with one reference.</summary>
internal sealed record AllocateSharedOp(int Vm, uint Checksum, bool HostRefuses) : GmmOp(Vm);

/// <summary>Add a reference to an existing shared page.</summary>
internal sealed record AddReferenceOp(int Vm, PageFault Fault, int Pick) : GmmOp(Vm);

/// <summary>The guest ballooned pages, freeing some of its base pages; <c>OverLimit</c> balloons one more than the reservation allows.</summary>
internal sealed record BalloonOp(int Vm, int Ballooned, int FreeCount, bool Completed, bool OverLimit, int Pick) : GmmOp(Vm);

/// <summary>The guest deflated its balloon; <c>TooMany</c> deflates more than it holds.</summary>
internal sealed record DeflateOp(int Vm, int Pages, bool TooMany) : GmmOp(Vm);

/// <summary>The host asks for a balloon of <c>TargetPercent</c> of the base reservation (out of range on purpose sometimes).</summary>
internal sealed record RequestBalloonOp(int Vm, int TargetPercent) : GmmOp(Vm);

/// <summary>The VM was reset: its balloon is empty.</summary>
internal sealed record ResetBalloonOp(int Vm) : GmmOp(Vm);

/// <summary>Change the VM's reservation (sometimes to one the policy declines or a malformed one).</summary>
internal sealed record UpdateReservationOp(int Vm, AccountPages Reservation) : GmmOp(Vm);

/// <summary>Destroy the VM in this slot (which may be empty already).</summary>
internal sealed record DestroyVmOp(int Vm) : GmmOp(Vm);

/// <summary>Destroy the VM in this slot if there is one, then register a new one there.</summary>
internal sealed record CreateVmOp(int Vm, AccountPages Reservation, OvercommitPolicy Policy, VmPriority Priority) : GmmOp(Vm);

/// <summary>Change the VM's priority.</summary>
internal sealed record SetPriorityOp(int Vm, VmPriority Priority) : GmmOp(Vm);

/// <summary>Map and/or unmap chunks for the VM.</summary>
internal sealed record MapChunkOp(int Vm, MapKind Kind, int Pick) : GmmOp(Vm);
