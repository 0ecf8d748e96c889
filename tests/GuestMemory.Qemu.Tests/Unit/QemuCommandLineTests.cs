using GuestMemory.Qemu;

namespace GuestMemory.Qemu.Tests.Unit;

/// <summary><see cref="QemuCommandLine"/> and <see cref="GuestOptions.Validate"/>, without starting QEMU.</summary>
public sealed class QemuCommandLineTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("gmm-cmdline-").FullName;
    private readonly GuestKernel _kernel;
    private readonly GuestImage _image;

    public QemuCommandLineTests()
    {
        string vmlinuz = Path.Combine(_dir, "vmlinuz"), initrd = Path.Combine(_dir, "initrd");
        File.WriteAllBytes(vmlinuz, [1]);
        File.WriteAllBytes(initrd, [1]);
        _kernel = new GuestKernel(vmlinuz, "6.1.0-test", _dir);
        _image = new GuestImage(initrd, _kernel, ["virtio_balloon"]);
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private GuestOptions Options => new() { Name = "g1", RamBytes = 256L << 20, Kernel = _kernel, Image = _image };

    private static string After(IReadOnlyList<string> args, string option, int nth = 0) =>
        args.Select((a, i) => (a, i)).Where(p => p.a == option).Skip(nth).Select(p => args[p.i + 1]).First();

    [Fact]
    public void Memfd_RAM_is_the_machine_memory_backend_by_its_proc_path_shared()
    {
        var paths = new GuestPaths(_dir);
        IReadOnlyList<string> args = QemuCommandLine.Build(Options, Accelerator.Tcg, paths, "/proc/42/fd/7");
        Assert.Equal("memory-backend-file,id=ram0,size=268435456,mem-path=/proc/42/fd/7,share=on", After(args, "-object"));
        Assert.Equal("pc,memory-backend=ram0", After(args, "-machine"));
        Assert.Equal("256M", After(args, "-m"));
        Assert.Equal("tcg", After(args, "-accel"));
        Assert.Equal(_kernel.KernelPath, After(args, "-kernel"));
        Assert.Equal(_image.Path, After(args, "-initrd"));
        Assert.Equal(QemuCommandLine.BaseKernelArguments, After(args, "-append"));
        Assert.Contains("-nodefaults", args);
        Assert.Contains("-no-reboot", args);
        Assert.Equal("chardev:gmmconsole", After(args, "-serial", 0)); // ttyS0: the console
        Assert.Equal("chardev:gmmcmd", After(args, "-serial", 1));     // ttyS1: the command channel
        Assert.Contains($"socket,id=gmmcmd,path={paths.CommandSocket},server=off", args);
        Assert.Contains($"socket,id=gmmqmp,path={paths.QmpSocket},server=off", args);
        Assert.Contains($"socket,id=gmmmonitor,path={paths.MonitorSocket},server=on,wait=off", args);
        Assert.Equal("virtio-balloon-pci,id=balloon0,free-page-reporting=off,deflate-on-oom=off", After(args, "-device"));
    }

    [Fact]
    public void Anonymous_RAM_with_mem_merge_KVM_disks_and_extras()
    {
        string disk = Path.Combine(_dir, "disk.raw");
        File.WriteAllBytes(disk, new byte[4096]);
        GuestOptions options = Options with
        {
            RamBacking = GuestRamBacking.Anonymous, MemMerge = true, Cpus = 2, Disks = [disk],
            Balloon = new BalloonDevice(FreePageReporting: true, DeflateOnOom: true), KernelArguments = "loglevel=7", ExtraArguments = ["-device", "virtio-rng-pci"],
        };
        options.Validate();
        IReadOnlyList<string> args = QemuCommandLine.Build(options, Accelerator.Kvm, new GuestPaths(_dir), null);
        Assert.Equal("memory-backend-ram,id=ram0,size=268435456,merge=on", After(args, "-object"));
        Assert.Equal("pc,memory-backend=ram0,mem-merge=on", After(args, "-machine"));
        Assert.Equal(("kvm", "host", "2"), (After(args, "-accel"), After(args, "-cpu"), After(args, "-smp")));
        Assert.Equal($"{QemuCommandLine.BaseKernelArguments} loglevel=7", After(args, "-append"));
        Assert.Equal($"file={disk},if=none,id=gmmdisk0,format=raw,cache=unsafe", After(args, "-drive"));
        Assert.Equal("virtio-balloon-pci,id=balloon0,free-page-reporting=on,deflate-on-oom=on", After(args, "-device", 0));
        Assert.Equal("virtio-blk-pci,drive=gmmdisk0", After(args, "-device", 1));
        Assert.Equal(["-device", "virtio-rng-pci"], args.TakeLast(2));
    }

    [Fact]
    public void An_incoming_migration_waits_on_the_URI_given_or_on_the_guests_own_socket()
    {
        var paths = new GuestPaths(_dir);
        Assert.Equal("tcp:127.0.0.1:4444", After(QemuCommandLine.Build(Options with { Incoming = "tcp:127.0.0.1:4444" }, Accelerator.Tcg, paths, "/proc/1/fd/3"), "-incoming"));
        Assert.Equal($"unix:{_dir}/incoming.sock", After(QemuCommandLine.Build(Options with { Incoming = GuestOptions.IncomingOwnSocket }, Accelerator.Tcg, paths, "/proc/1/fd/3"), "-incoming"));
        Assert.DoesNotContain("-incoming", QemuCommandLine.Build(Options, Accelerator.Tcg, paths, "/proc/1/fd/3"));
    }

    [Fact]
    public void What_QEMU_cannot_take_is_refused_before_it_starts()
    {
        Assert.Equal(QemuError.InvalidArgument, Assert.Throws<QemuException>(() => QemuCommandLine.Build(Options, Accelerator.Auto, new GuestPaths(_dir), "/proc/1/fd/3")).Error);
        Assert.Equal(QemuError.InvalidArgument, Assert.Throws<QemuException>(() => QemuCommandLine.Build(Options, Accelerator.Tcg, new GuestPaths(_dir), null)).Error);
        Assert.Equal(QemuError.InvalidArgument, Assert.Throws<QemuException>(() => QemuCommandLine.Build(Options, Accelerator.Tcg, new GuestPaths("/tmp/" + new string('d', 100)), "/proc/1/fd/3")).Error);
        Assert.Equal(QemuError.InvalidArgument, Assert.Throws<QemuException>(() => QemuCommandLine.Build(Options, Accelerator.Tcg, new GuestPaths("/tmp/a,b"), "/proc/1/fd/3")).Error);
    }

    [Fact]
    public void Options_are_validated_field_by_field()
    {
        Options.Validate();
        GuestOptions[] bad =
        [
            Options with { Name = "" }, Options with { Name = "has space" }, Options with { Name = new string('n', 33) },
            Options with { RamBytes = 8L << 20 }, Options with { RamBytes = (256L << 20) + 4096 }, Options with { RamBytes = 2L << 40 },
            Options with { Cpus = 0 }, Options with { Cpus = 65 },
            Options with { Image = null }, Options with { CustomInitrd = _image.Path },
            Options with { Image = null, CustomInitrd = Path.Combine(_dir, "missing") },
            Options with { Disks = [Path.Combine(_dir, "missing.raw")] },
            Options with { MemMerge = true }, Options with { KernelArguments = "a\nb" }, Options with { BootTimeout = TimeSpan.Zero },
        ];
        foreach (GuestOptions o in bad) Assert.Equal(QemuError.InvalidArgument, Assert.Throws<QemuException>(o.Validate).Error);
        Assert.Equal(QemuError.KernelNotFound, Assert.Throws<QemuException>((Options with { Kernel = _kernel with { KernelPath = "/nonexistent/vmlinuz" } }).Validate).Error);
    }
}
