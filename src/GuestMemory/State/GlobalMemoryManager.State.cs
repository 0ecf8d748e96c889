using GuestMemory.State;

namespace GuestMemory;

public sealed partial class GlobalMemoryManager
{
    /// <summary>
    /// Creates a VM and restores a saved state into it. <paramref name="registerRanges"/> registers the
    /// ROM and MMIO ranges the state's layout has beside the RAM at 0 (MMIO handlers cannot come from a
    /// file). If the restore fails the VM is destroyed again and the error is thrown.
    /// </summary>
    /// <exception cref="GmmException">The errors of <see cref="CreateVm"/> and <see cref="VirtualMachine.RestoreState(Stream)"/>.</exception>
    public VirtualMachine RestoreVm(VmOptions options, Stream state, Action<VirtualMachine>? registerRanges = null)
    {
        VirtualMachine vm = CreateVm(options);
        try
        {
            registerRanges?.Invoke(vm);
            vm.RestoreState(state);
            return vm;
        }
        catch
        {
            DestroyVm(vm);
            throw;
        }
    }

    /// <summary>Creates a VM from a saved state file; see <see cref="RestoreVm(VmOptions, Stream, Action{VirtualMachine}?)"/>.</summary>
    public VirtualMachine RestoreVm(VmOptions options, string path, Action<VirtualMachine>? registerRanges = null)
    {
        using FileStream file = SavedStateFile.OpenRead(path);
        return RestoreVm(options, file, registerRanges);
    }
}
