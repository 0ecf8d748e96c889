using System.Globalization;

namespace GuestMemory.Qemu;

/// <summary>The files and sockets of one guest, all inside its folder (see <see cref="RunDirectory"/>).</summary>
/// <param name="Directory">The guest's folder.</param>
public sealed record GuestPaths(string Directory)
{
    /// <summary>QMP: QEMU connects to this socket, which the owner listens on (one connection, the owner's).</summary>
    public string QmpSocket => Path.Combine(Directory, "qmp.sock");
    /// <summary>A second QMP monitor, QEMU listening, for other clients (<c>gmm qemu dump</c>, socat).</summary>
    public string MonitorSocket => Path.Combine(Directory, "monitor.sock");
    /// <summary>The guest's second serial port (ttyS1, the command channel): QEMU connects to it.</summary>
    public string CommandSocket => Path.Combine(Directory, "cmd.sock");
    /// <summary>Where QEMU waits for a migration when told <see cref="GuestOptions.IncomingOwnSocket"/>: QEMU listens, a local peer connects.</summary>
    public string IncomingSocket => Path.Combine(Directory, "incoming.sock");
    /// <summary>The guest's console (ttyS0), written by QEMU.</summary>
    public string ConsoleLog => Path.Combine(Directory, "console.log");

    /// <summary>The longest socket path a Unix socket address holds (108 bytes with its NUL).</summary>
    public const int MaxSocketPath = 107;
}

/// <summary>
/// QEMU's command line for a guest, as a pure function of its options (tested without QEMU). The
/// machine is the default PC (i440FX, the lightest under TCG); guest RAM comes from the memory backend
/// <c>ram0</c>: the owner's memfd (<c>memory-backend-file,share=on</c>) or anonymous memory
/// (<c>memory-backend-ram</c>, mergeable for KSM when asked). Nothing default is created
/// (<c>-nodefaults</c>): no display, no network, no monitor but the two QMP ones.
/// </summary>
public static class QemuCommandLine
{
    /// <summary>The kernel arguments every guest gets: console on ttyS0, and a panic ends QEMU at once (with <c>-no-reboot</c>).</summary>
    public const string BaseKernelArguments = "console=ttyS0 panic=-1 quiet";

    /// <summary>The arguments (without the program) for <paramref name="options"/>.</summary>
    /// <param name="options">Validated options.</param>
    /// <param name="accelerator">The resolved accelerator (TCG or KVM, not Auto).</param>
    /// <param name="paths">The guest's files.</param>
    /// <param name="ramPath">The memfd's path for QEMU (<see cref="GuestRam.QemuPath"/>) with <see cref="GuestRamBacking.Memfd"/>, else null.</param>
    /// <exception cref="QemuException"><see cref="QemuError.InvalidArgument"/> for an unresolved accelerator, a missing memfd path or a socket path over 107 bytes.</exception>
    public static IReadOnlyList<string> Build(GuestOptions options, Accelerator accelerator, GuestPaths paths, string? ramPath)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(paths);
        if (accelerator == Accelerator.Auto) throw new QemuException(QemuError.InvalidArgument, "resolve the accelerator first (AcceleratorProbe.Resolve)");
        if ((options.RamBacking == GuestRamBacking.Memfd) != (ramPath != null))
            throw new QemuException(QemuError.InvalidArgument, "a memfd path is needed exactly for memfd-backed RAM");
        foreach (string socket in new[] { paths.QmpSocket, paths.MonitorSocket, paths.CommandSocket, paths.IncomingSocket })
            if (System.Text.Encoding.UTF8.GetByteCount(socket) > GuestPaths.MaxSocketPath)
                throw new QemuException(QemuError.InvalidArgument, $"the socket path {socket} is longer than {GuestPaths.MaxSocketPath} bytes: set TMPDIR to a shorter folder");
        CheckCommaFree(paths.Directory, "the guest's folder");
        string size = options.RamBytes.ToString(CultureInfo.InvariantCulture);
        long mib = options.RamBytes >> 20;
        var args = new List<string>
        {
            "-name", $"{options.Name},process=gmm-{options.Name}",
            "-machine", options.RamBacking == GuestRamBacking.Anonymous && options.MemMerge ? "pc,memory-backend=ram0,mem-merge=on" : "pc,memory-backend=ram0",
            "-accel", accelerator == Accelerator.Kvm ? "kvm" : "tcg",
            "-cpu", accelerator == Accelerator.Kvm ? "host" : "qemu64",
            "-smp", options.Cpus.ToString(CultureInfo.InvariantCulture),
            "-m", $"{mib}M",
            "-object", options.RamBacking == GuestRamBacking.Memfd
                ? $"memory-backend-file,id=ram0,size={size},mem-path={CheckCommaFree(ramPath!, "the memfd path")},share=on"
                : $"memory-backend-ram,id=ram0,size={size},merge={(options.MemMerge ? "on" : "off")}",
            "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
            "-kernel", CheckCommaFree(options.Kernel.KernelPath, "the kernel path"),
            "-initrd", CheckCommaFree(options.Image?.Path ?? options.CustomInitrd!, "the initramfs path"),
            "-append", options.KernelArguments is { Length: > 0 } extra ? $"{BaseKernelArguments} {extra}" : BaseKernelArguments,
            "-chardev", $"file,id=gmmconsole,path={paths.ConsoleLog}",
            "-serial", "chardev:gmmconsole",
            "-chardev", $"socket,id=gmmcmd,path={paths.CommandSocket},server=off",
            "-serial", "chardev:gmmcmd",
            "-chardev", $"socket,id=gmmqmp,path={paths.QmpSocket},server=off",
            "-mon", "chardev=gmmqmp,mode=control",
            "-chardev", $"socket,id=gmmmonitor,path={paths.MonitorSocket},server=on,wait=off",
            "-mon", "chardev=gmmmonitor,mode=control",
        };
        if (options.Balloon is BalloonDevice balloon)
            args.AddRange(["-device", $"virtio-balloon-pci,id=balloon0,free-page-reporting={OnOff(balloon.FreePageReporting)},deflate-on-oom={OnOff(balloon.DeflateOnOom)}"]);
        for (int i = 0; i < options.Disks.Count; i++)
        {
            string disk = CheckCommaFree(Path.GetFullPath(options.Disks[i]), "a disk path");
            args.AddRange(["-drive", $"file={disk},if=none,id=gmmdisk{i},format=raw,cache=unsafe", "-device", $"virtio-blk-pci,drive=gmmdisk{i}"]);
        }
        if (options.Incoming != null) args.AddRange(["-incoming", options.Incoming == GuestOptions.IncomingOwnSocket ? $"unix:{paths.IncomingSocket}" : options.Incoming]);
        args.AddRange(options.ExtraArguments);
        return args;
    }

    private static string OnOff(bool value) => value ? "on" : "off";

    /// <summary>QEMU's option syntax splits on commas: a path with one cannot be passed as it is.</summary>
    private static string CheckCommaFree(string path, string what) =>
        path.Contains(',') ? throw new QemuException(QemuError.InvalidArgument, $"{what} '{path}' has a comma, which QEMU's option syntax cannot carry") : path;
}
