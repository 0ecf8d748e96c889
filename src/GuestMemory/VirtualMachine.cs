using GuestMemory.Balloon;
using GuestMemory.Gmm;
using GuestMemory.Phys;

namespace GuestMemory;

/// <summary>
/// A VM as the host sees it: its guest-physical memory and its accounts in the Gmm. Disposing it
/// destroys it: its memory goes back to the Gmm and its emptied chunks back to the host.
/// </summary>
public sealed partial class VirtualMachine : IDisposable
{
    internal VirtualMachine(GlobalMemoryManager manager, VmOptions options, VmHandle handle, GuestPhysicalMemory memory)
    {
        Manager = manager;
        Options = options;
        Handle = handle;
        Memory = memory;
        Balloon = new VmBalloon(this);
    }

    /// <summary>The manager the VM lives in.</summary>
    public GlobalMemoryManager Manager { get; }

    /// <summary>The options the VM was created with.</summary>
    public VmOptions Options { get; }

    /// <summary>The VM's name.</summary>
    public string Name => Options.Name;

    /// <summary>The VM's handle in the Gmm.</summary>
    public VmHandle Handle { get; }

    /// <summary>Guest-physical memory: read, write, map, reset.</summary>
    public GuestPhysicalMemory Memory { get; }

    /// <summary>The host side of the VM's memory balloon: its target, limits and guest driver.</summary>
    public VmBalloon Balloon { get; }

    /// <summary>True once destroyed.</summary>
    public bool IsDestroyed => Memory.IsDestroyed;

    /// <summary>The VM's accounts in the Gmm (reserved, allocated, shared, ballooned).</summary>
    /// <exception cref="GmmException"><see cref="GmmError.VmDestroyed"/> once the VM is destroyed.</exception>
    public GmmVmStatistics Accounts
    {
        get
        {
            ThrowIfDestroyed();
            try
            {
                return Manager.Pages.GetVmStatistics(Handle);
            }
            catch (GmmException e) when (e.Error == GmmError.VmNotFound)
            {
                throw Destroyed(); // destroyed meanwhile: the handle's generation is gone
            }
        }
    }

    /// <summary>Throws <see cref="GmmError.VmDestroyed"/> once the VM is destroyed.</summary>
    internal void ThrowIfDestroyed()
    {
        if (IsDestroyed) throw Destroyed();
    }

    private GmmException Destroyed() => new(GmmError.VmDestroyed, $"{this} was destroyed");

    /// <summary>Destroys the VM. Throws <see cref="GmmError.PageLocked"/> (and changes nothing) while a page is mapped.</summary>
    public void Dispose() => Manager.DestroyVm(this);

    /// <inheritdoc/>
    public override string ToString() => $"{Name} ({Handle})";
}
