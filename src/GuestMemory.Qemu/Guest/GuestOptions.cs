namespace GuestMemory.Qemu;

/// <summary>Where a guest's RAM lives.</summary>
public enum GuestRamBacking
{
    /// <summary>A memfd this process creates and keeps (<see cref="GuestRam"/>), shared with QEMU: readable here while the guest runs.</summary>
    Memfd,
    /// <summary>QEMU's own anonymous memory (what QEMU does by default); with <see cref="GuestOptions.MemMerge"/>, offered to KSM.</summary>
    Anonymous,
}

/// <summary>The guest's virtio balloon device (<c>virtio-balloon-pci,id=balloon0</c>).</summary>
/// <param name="FreePageReporting">The guest reports the pages it frees and QEMU gives them back to the host.</param>
/// <param name="DeflateOnOom">The guest takes pages back from the balloon before its OOM killer would run.</param>
public sealed record BalloonDevice(bool FreePageReporting = false, bool DeflateOnOom = false)
{
    /// <summary>The device's QOM path, for <c>qom-get</c>/<c>qom-set</c> (guest statistics).</summary>
    public const string QomPath = "/machine/peripheral/balloon0";
}

/// <summary>How to start one QEMU guest (see <see cref="QemuGuest.StartAsync"/>).</summary>
public sealed record GuestOptions
{
    /// <summary>The guest's name: 1-32 of a-z, A-Z, 0-9, '-' and '_' (it names its folder and memfd).</summary>
    public required string Name { get; init; }

    /// <summary>Guest RAM in bytes: whole MiB, 16 MiB to 1 TiB.</summary>
    public required long RamBytes { get; init; }

    /// <summary>The kernel (and its modules, for the built image).</summary>
    public required GuestKernel Kernel { get; init; }

    /// <summary>
    /// The initramfs. A <see cref="GuestImage"/> built by this layer gives a command channel
    /// (<see cref="QemuGuest.Shell"/>); any other file (<see cref="CustomInitrd"/>) boots without one.
    /// </summary>
    public GuestImage? Image { get; init; }

    /// <summary>An initramfs of the caller's own instead of <see cref="Image"/>: the guest then has no command channel, and "ready" means QMP answers.</summary>
    public string? CustomInitrd { get; init; }

    /// <summary>Virtual CPUs: 1-64.</summary>
    public int Cpus { get; init; } = 1;

    /// <summary>The accelerator (<see cref="Accelerator.Auto"/> is resolved by <see cref="AcceleratorProbe.Resolve"/>).</summary>
    public Accelerator Accelerator { get; init; } = Accelerator.Auto;

    /// <summary>Where guest RAM lives.</summary>
    public GuestRamBacking RamBacking { get; init; } = GuestRamBacking.Memfd;

    /// <summary>With <see cref="GuestRamBacking.Anonymous"/>: <c>-machine mem-merge=on</c>, guest RAM marked mergeable for KSM.</summary>
    public bool MemMerge { get; init; }

    /// <summary>A balloon device, or null for none.</summary>
    public BalloonDevice? Balloon { get; init; } = new();

    /// <summary>Raw disk images attached as virtio block devices (<c>/dev/vda</c>, <c>/dev/vdb</c>, ... in the guest).</summary>
    public IReadOnlyList<string> Disks { get; init; } = [];

    /// <summary>More words for the kernel command line (after the layer's own: <c>console=ttyS0 panic=-1 quiet</c>).</summary>
    public string? KernelArguments { get; init; }

    /// <summary>More QEMU arguments, appended as they are (devices of the caller's own).</summary>
    public IReadOnlyList<string> ExtraArguments { get; init; } = [];

    /// <summary>How long the guest may take to boot to its ready line (TCG on a busy host needs tens of seconds).</summary>
    public TimeSpan BootTimeout { get; init; } = TimeSpan.FromSeconds(120);

    /// <summary>The QEMU to run, or null to look for it (<see cref="QemuBinary.Find"/>).</summary>
    public QemuBinary? Qemu { get; init; }

    /// <summary>
    /// Start as the target of a migration (<c>-incoming URI</c>, e.g. <c>tcp:127.0.0.1:4444</c>): QEMU waits
    /// for a stream (from another QEMU or a <see cref="QemuVmStore"/>) and the guest goes on where its source
    /// stopped, so it is "ready" once QMP answers (it booted long before). Null: boot normally.
    /// </summary>
    public string? Incoming { get; init; }

    /// <summary>
    /// The <see cref="Incoming"/> that makes QEMU wait for a migration on a Unix socket in the guest's own folder
    /// (<see cref="GuestPaths.IncomingSocket"/>): no port to race for, and gone with the guest. Not a QEMU URI itself.
    /// </summary>
    public const string IncomingOwnSocket = "unix";

    /// <summary>Whether <paramref name="name"/> may name a guest: 1-32 of letters, digits, '-' and '_' (it names a folder and a memfd).</summary>
    public static bool IsValidName(string? name) =>
        !string.IsNullOrEmpty(name) && name.Length <= 32 && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_');

    /// <summary>Checks every field; the first problem is the error.</summary>
    /// <exception cref="QemuException"><see cref="QemuError.InvalidArgument"/>.</exception>
    public void Validate()
    {
        if (!IsValidName(Name))
            throw new QemuException(QemuError.InvalidArgument, $"a guest name is 1-32 of letters, digits, '-' and '_', not '{Name}'");
        if (RamBytes < 16L << 20 || RamBytes > 1L << 40 || RamBytes % (1 << 20) != 0)
            throw new QemuException(QemuError.InvalidArgument, $"guest RAM must be whole MiB from 16 MiB to 1 TiB, not {RamBytes} bytes");
        if (Cpus is < 1 or > 64) throw new QemuException(QemuError.InvalidArgument, $"a guest has 1-64 CPUs, not {Cpus}");
        ArgumentNullException.ThrowIfNull(Kernel);
        if (Image == null && CustomInitrd == null) throw new QemuException(QemuError.InvalidArgument, "a guest needs an initramfs: an Image built by GuestImage or a CustomInitrd");
        if (Image != null && CustomInitrd != null) throw new QemuException(QemuError.InvalidArgument, "give either Image or CustomInitrd, not both");
        string initrd = Image?.Path ?? CustomInitrd!;
        if (!File.Exists(initrd)) throw new QemuException(QemuError.InvalidArgument, $"the initramfs {initrd} does not exist");
        if (!File.Exists(Kernel.KernelPath)) throw new QemuException(QemuError.KernelNotFound, $"the kernel {Kernel.KernelPath} does not exist");
        foreach (string disk in Disks)
            if (!File.Exists(disk)) throw new QemuException(QemuError.InvalidArgument, $"the disk image {disk} does not exist");
        if (MemMerge && RamBacking != GuestRamBacking.Anonymous) throw new QemuException(QemuError.InvalidArgument, "MemMerge applies to anonymous RAM only");
        if (KernelArguments != null && KernelArguments.Any(c => c is '\n' or '\0'))
            throw new QemuException(QemuError.InvalidArgument, "kernel arguments must be one line");
        if (Incoming != null && (Incoming.Length == 0 || Incoming.Any(char.IsControl)))
            throw new QemuException(QemuError.InvalidArgument, $"an incoming URI is one line such as tcp:127.0.0.1:4444 or \"exec:cat FILE\", not '{Incoming}'");
        if (BootTimeout <= TimeSpan.Zero) throw new QemuException(QemuError.InvalidArgument, "the boot timeout must be positive");
    }
}
