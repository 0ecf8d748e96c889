using GuestMemory.Phys;

namespace GuestMemory.State;

/// <summary>
/// Saves a paused VM: one pass over every RAM and ROM page in address order. The VM is only read: no
/// entry changes, no write monitoring is armed. "Paused" is the caller's promise that no guest write
/// happens meanwhile; the save stays memory-safe without it (every page is read inside an access
/// section) but a page written during the save may then be saved half old, half new. For a running VM
/// use <see cref="LiveStateSave"/>.
/// </summary>
internal static class StateSaver
{
    public static SavedStateSummary SavePaused(VirtualMachine vm, Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        MemoryRange[] ranges = vm.Memory.RangeSnapshot();
        var writer = new StateWriter(stream);
        writer.WriteHeader(StatePlan.Count(vm.Manager.Pages.Host, ranges));
        var emitter = new PageEmitter(vm.Manager.Pages.Host, writer);
        var counts = new ImageCounts();
        foreach (MemoryRange range in ranges)
        {
            for (int i = 0; i < range.Entries.Length; i++) counts.Add(emitter.Emit(range, i));
        }
        writer.Finish(1, counts.NonZero, emitter.SharedContents, counts.Ballooned);
        return emitter.Written.Summary(writer.BytesWritten, 1, counts.NonZero);
    }
}
