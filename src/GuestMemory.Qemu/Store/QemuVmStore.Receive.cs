namespace GuestMemory.Qemu;

public sealed partial class QemuVmStore
{
    /// <summary>
    /// Receives a VM that QEMU migrates here (the bytes of <c>migrate tcp:...</c> or of a file QEMU wrote
    /// with <c>migrate "exec:cat > F"</c>) and keeps it as <paramref name="name"/>. Returns once the whole
    /// stream was read and the VM is stored (on disk, with a folder). The stream is not closed.
    /// </summary>
    /// <exception cref="QemuException"><see cref="QemuError.InvalidArgument"/> (the name), <see cref="QemuError.StoredVmExists"/>,
    /// <see cref="QemuError.StreamUnsupported"/> (naming what), <see cref="QemuError.StreamCorrupt"/>, <see cref="QemuError.StreamTruncated"/>,
    /// <see cref="QemuError.StoreCorrupt"/>; the Gmm's <see cref="GmmException"/> when host memory runs out. On any error nothing of the VM is kept.</exception>
    public StoredVmInfo Receive(System.IO.Stream stream, string name)
    {
        ArgumentNullException.ThrowIfNull(stream);
        Reserve(name);
        var receiver = new VmReceiver(Gmm, (_, blocks) => VmOptionsFor(name, blocks));
        try
        {
            new QemuStreamReader(stream).Read(receiver);
            Keep(name, receiver.State!, receiver.Vm!);
            return List().Single(v => v.Name == name);
        }
        catch
        {
            receiver.Abandon();
            throw;
        }
        finally
        {
            Unreserve(name);
        }
    }

    /// <summary>
    /// Lists a complete VM: with a folder its files are written first (and its RAM given back unless kept
    /// resident); resident VMs are then offered to page fusion, which shares their identical pages with
    /// every VM of the sharing domain. On failure the caller destroys <paramref name="vm"/>.
    /// </summary>
    private void Keep(string name, QemuVmState state, VirtualMachine vm)
    {
        StoredVm stored;
        if (Folder != null)
        {
            _disk.Wait();
            try
            {
                stored = Persist(name, state, vm);
                if (Resident) stored.Vm = vm;
                lock (_lock) _vms[name] = stored;
            }
            finally
            {
                _disk.Release();
            }
            if (!Resident) vm.Dispose();
        }
        else
        {
            stored = new StoredVm(name, state, null, vm, -1, 0);
            lock (_lock) _vms[name] = stored;
        }
        if (!Resident) return;
        // Fusion arms a page in one pass and merges it in the next if it stayed unwritten; a stored VM
        // never runs, so two passes share every page it has in common with the domain's other VMs.
        Gmm.Fusion.RunPass();
        Gmm.Fusion.RunPass();
    }
}
