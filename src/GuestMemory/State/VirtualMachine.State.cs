using GuestMemory.State;

namespace GuestMemory;

public sealed partial class VirtualMachine
{
    /// <summary>
    /// Saves guest memory (RAM, ROM, and the layout with MMIO ranges) to <paramref name="stream"/> in the
    /// format of docs/saved-state-format.md. The VM must be paused (no guest writes) for an exact image;
    /// the VM is only read. For a running VM use <see cref="BeginLiveSave"/>.
    /// </summary>
    /// <exception cref="GmmException"><see cref="GmmError.VmDestroyed"/>. Stream errors propagate as they are.</exception>
    public SavedStateSummary SaveState(Stream stream) => StateSaver.SavePaused(this, stream);

    /// <summary>Saves a paused VM to a file atomically: a temporary file, flushed to disk, renamed over <paramref name="path"/>.</summary>
    public SavedStateSummary SaveState(string path) => SavedStateFile.Write(path, SaveState);

    /// <summary>Begins a save of the running VM; see <see cref="LiveStateSave"/> for the passes and the final pause.</summary>
    /// <exception cref="InvalidOperationException">Another live save of this VM is running.</exception>
    public LiveStateSave BeginLiveSave(Stream stream) => new(this, stream);

    /// <summary>
    /// Saves the running VM: passes while the guest runs until a pass sends at most
    /// <see cref="LiveSaveOptions.StopBelowPages"/> pages (or <see cref="LiveSaveOptions.MaxPasses"/> is
    /// reached), then calls <paramref name="pauseWriters"/>, which must return with every writer of guest
    /// memory stopped, and writes the final pass. The caller resumes the writers after the call.
    /// </summary>
    public SavedStateSummary SaveStateLive(Stream stream, Action pauseWriters, LiveSaveOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(pauseWriters);
        options ??= new LiveSaveOptions();
        options.Validate();
        using LiveStateSave save = BeginLiveSave(stream);
        while (save.Passes < options.MaxPasses - 1 && save.PagesSentLastPass > options.StopBelowPages) save.RunPass();
        pauseWriters();
        return save.Complete();
    }

    /// <summary>
    /// Replaces guest memory with a saved state. The header's non-zero page count is allocated up front,
    /// so a host without room refuses before anything changes; every page is staged and checked, and only
    /// then is the whole image swapped in at once; the pages the old image used go back to the Gmm.
    /// Shared contents come back shared where this host still has an identical shared page in the VM's
    /// sharing domain, private otherwise. Guest writes during the restore are lost when it commits.
    /// </summary>
    /// <exception cref="GmmException">On any error nothing changed: <see cref="GmmError.StateTruncated"/>,
    /// <see cref="GmmError.StateCorrupt"/>, <see cref="GmmError.StateVersionUnsupported"/>, <see cref="GmmError.StateTooLarge"/>,
    /// <see cref="GmmError.StateLayoutMismatch"/>, <see cref="GmmError.HitGlobalLimit"/>, <see cref="GmmError.HitVmAccountLimit"/>,
    /// <see cref="GmmError.ReservationDeclined"/>, <see cref="GmmError.HostOutOfMemory"/>, <see cref="GmmError.PageLocked"/>
    /// (a page is mapped), <see cref="GmmError.VmDestroyed"/>. Stream errors propagate as they are.</exception>
    public RestoreSummary RestoreState(Stream stream) => StateRestorer.Restore(this, stream);

    /// <summary>Restores a saved state from a file; see <see cref="RestoreState(Stream)"/>.</summary>
    public RestoreSummary RestoreState(string path)
    {
        using FileStream file = SavedStateFile.OpenRead(path);
        return RestoreState(file);
    }
}
