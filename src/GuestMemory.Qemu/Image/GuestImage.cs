using System.IO.Compression;
using System.Security.Cryptography;

namespace GuestMemory.Qemu;

/// <summary>What goes into a guest initramfs besides busybox and the init script.</summary>
public sealed record GuestImageOptions
{
    /// <summary>
    /// The modules every guest gets: virtio over PCI (virtio_pci brings virtio, virtio_ring and the
    /// modern/legacy PCI transports), the balloon, the block device, and ext4 for a disk of its own.
    /// </summary>
    public static readonly IReadOnlyList<string> DefaultModules = ["virtio_pci", "virtio_balloon", "virtio_blk", "ext4"];

    /// <summary>Modules to load at boot (with their dependencies, resolved from modules.dep).</summary>
    public IReadOnlyList<string> Modules { get; init; } = DefaultModules;

    /// <summary>A statically linked busybox; null looks for Debian's busybox-static (/bin/busybox, then PATH).</summary>
    public string? Busybox { get; init; }

    /// <summary>Compress the archive with gzip (smaller file; the kernel unpacks either).</summary>
    public bool Gzip { get; init; } = true;
}

/// <summary>
/// A guest initramfs built by the project from the host's Debian files only: busybox (Debian's
/// busybox-static), the kernel's own modules with their dependencies, and GuestMemory's init script,
/// which serves the command channel (<see cref="GuestShell"/>). See docs/qemu.md for what the guest runs.
/// </summary>
/// <param name="Path">The initramfs file.</param>
/// <param name="Kernel">The kernel whose modules it holds.</param>
/// <param name="Modules">The modules /init loads, in that order.</param>
public sealed record GuestImage(string Path, GuestKernel Kernel, IReadOnlyList<string> Modules)
{
    /// <summary>What to install when busybox is missing or not static.</summary>
    public const string BusyboxHint = "install Debian's busybox-static (apt-get install --no-install-recommends busybox-static)";

    /// <summary>Where <see cref="BuildCached"/> keeps images unless told otherwise: <c>$TMPDIR/gmm-qemu-images</c>.</summary>
    public static string DefaultCacheDirectory => System.IO.Path.Combine(System.IO.Path.GetTempPath(), "gmm-qemu-images");

    /// <summary>The init script's text (an embedded resource of this assembly).</summary>
    public static string InitScript { get; } = ReadInitScript();

    /// <summary>
    /// Builds the initramfs for <paramref name="kernel"/> into <paramref name="path"/> (written to a
    /// temporary file and renamed, so a reader never sees half an image).
    /// </summary>
    /// <exception cref="QemuException"><see cref="QemuError.ToolNotFound"/> (busybox),
    /// <see cref="QemuError.ModulesNotFound"/> (a module, or the kernel has no module tree).</exception>
    public static GuestImage Build(GuestKernel kernel, string path, GuestImageOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(kernel);
        ArgumentNullException.ThrowIfNull(path);
        options ??= new GuestImageOptions();
        if (kernel.ModulesDirectory == null)
            throw new QemuException(QemuError.ModulesNotFound, $"kernel {kernel.Version} has no module tree to build a guest image from: pass --modules DIR");
        string busybox = FindBusybox(options.Busybox);
        KernelModules modules = KernelModules.Load(kernel.ModulesDirectory);
        IReadOnlyList<string> order = modules.LoadOrder(options.Modules);
        string temporary = path + ".tmp-" + Environment.ProcessId;
        try
        {
            using (var file = new FileStream(temporary, FileMode.Create, FileAccess.Write))
            using (Stream output = options.Gzip ? new GZipStream(file, CompressionLevel.Fastest) : file)
            using (var cpio = new CpioWriter(output, leaveOpen: true))
            {
                foreach (string dir in new[] { "bin", "dev", "etc", "lib", "lib/modules", "mnt", "proc", "run", "sbin", "sys", "tmp" })
                    cpio.AddDirectory(dir);
                cpio.AddCharDevice("dev/console", 5, 1);
                cpio.AddCharDevice("dev/null", 1, 3, (UnixFileMode)0x1B6 /* 0666 */);
                cpio.AddFile("bin/busybox", File.ReadAllBytes(busybox), (UnixFileMode)0x1ED);
                cpio.AddSymlink("bin/sh", "busybox");
                cpio.AddFile("init", System.Text.Encoding.UTF8.GetBytes(InitScript), (UnixFileMode)0x1ED);
                cpio.AddFile("etc/gmm-modules", System.Text.Encoding.UTF8.GetBytes(string.Join('\n', order) + "\n"));
                foreach (string module in order) cpio.AddFile($"lib/modules/{module}.ko", modules.ReadModule(module, busybox));
            }
            File.Move(temporary, path, overwrite: true);
        }
        finally
        {
            File.Delete(temporary);
        }
        return new GuestImage(path, kernel, order);
    }

    /// <summary>
    /// Builds the image into <paramref name="cacheDirectory"/> under a name derived from everything
    /// that goes into it (kernel, modules, busybox, init script), or returns the one built before.
    /// </summary>
    public static GuestImage BuildCached(GuestKernel kernel, string cacheDirectory, GuestImageOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(kernel);
        options ??= new GuestImageOptions();
        string busybox = FindBusybox(options.Busybox);
        string key = string.Join('\n', kernel.KernelPath, kernel.Version, kernel.ModulesDirectory, string.Join(',', options.Modules), options.Gzip,
            busybox, new FileInfo(busybox).Length, File.GetLastWriteTimeUtc(busybox).Ticks, InitScript);
        string hash = Convert.ToHexStringLower(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(key)))[..16];
        Directory.CreateDirectory(cacheDirectory);
        string path = System.IO.Path.Combine(cacheDirectory, $"gmm-initramfs-{kernel.Version}-{hash}.cpio{(options.Gzip ? ".gz" : "")}");
        if (File.Exists(path))
            return new GuestImage(path, kernel, KernelModules.Load(kernel.ModulesDirectory!).LoadOrder(options.Modules));
        return Build(kernel, path, options with { Busybox = busybox });
    }

    /// <summary>The busybox to put in guests: the given one, else /bin/busybox, else on PATH; it must be statically linked.</summary>
    /// <exception cref="QemuException"><see cref="QemuError.ToolNotFound"/> when none is found or it is dynamically linked.</exception>
    public static string FindBusybox(string? path = null)
    {
        string busybox = path ?? (File.Exists("/bin/busybox") ? "/bin/busybox" : QemuBinary.FindOnPath("busybox"))
            ?? throw new QemuException(QemuError.ToolNotFound, $"busybox is not installed: {BusyboxHint}");
        if (!File.Exists(busybox)) throw new QemuException(QemuError.ToolNotFound, $"{busybox} does not exist: {BusyboxHint}");
        if (!ElfFile.IsStaticExecutable(busybox))
            throw new QemuException(QemuError.ToolNotFound, $"{busybox} is not a statically linked executable (a guest has no C library): {BusyboxHint}");
        return busybox;
    }

    private static string ReadInitScript()
    {
        using Stream stream = typeof(GuestImage).Assembly.GetManifestResourceStream("GuestMemory.Qemu.init.sh")
            ?? throw new InvalidOperationException("the init script resource is missing from the assembly");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}
