using System.Text;

namespace GuestMemory.Qemu;

/// <summary>
/// A Linux kernel for guests and the folder of its modules (<c>lib/modules/VERSION</c>, with
/// <c>modules.dep</c>); <see cref="ModulesDirectory"/> is null only when the caller brings its own
/// initramfs and needs no modules.
/// </summary>
/// <param name="KernelPath">The bzImage (vmlinuz) file.</param>
/// <param name="Version">The release string (<c>uname -r</c> in the guest), read from the bzImage header.</param>
/// <param name="ModulesDirectory">The kernel's module tree, or null.</param>
public sealed record GuestKernel(string KernelPath, string Version, string? ModulesDirectory)
{
    /// <summary>
    /// Where <c>scripts/qemu-packages.sh</c> unpacks Debian's kernel package when /boot has none
    /// (its <c>boot/vmlinuz-*</c> and <c>lib/modules/*</c>): searched after /boot.
    /// </summary>
    public const string CacheRoot = "/var/cache/gmm-qemu/linux-image";

    /// <summary>What to install or pass when no kernel is found.</summary>
    public const string InstallHint = "install Debian's linux-image-amd64 (apt-get install --no-install-recommends linux-image-amd64), run scripts/qemu-packages.sh, or pass --kernel FILE (with --modules DIR)";

    /// <summary>
    /// The kernel at <paramref name="kernelPath"/> when given (its modules from
    /// <paramref name="modulesDirectory"/>, else /lib/modules/VERSION or the cache); otherwise the newest
    /// /boot/vmlinuz-* whose modules are installed, then the newest kernel in <see cref="CacheRoot"/>.
    /// </summary>
    /// <param name="kernelPath">A bzImage, or null to search.</param>
    /// <param name="modulesDirectory">Its module tree, or null to look for it.</param>
    /// <param name="requireModules">When false, a kernel without a module tree is accepted (a caller's own initramfs).</param>
    /// <exception cref="QemuException"><see cref="QemuError.KernelNotFound"/> or <see cref="QemuError.ModulesNotFound"/>.</exception>
    public static GuestKernel Find(string? kernelPath = null, string? modulesDirectory = null, bool requireModules = true)
    {
        if (kernelPath != null)
        {
            if (!File.Exists(kernelPath)) throw new QemuException(QemuError.KernelNotFound, $"{kernelPath} does not exist: {InstallHint}");
            string version = ReadVersion(kernelPath)
                ?? throw new QemuException(QemuError.KernelNotFound, $"{kernelPath} is not an x86 bzImage (no 'HdrS' header with a version)");
            string? modules = modulesDirectory ?? FindModules(version);
            return Checked(new GuestKernel(kernelPath, version, modules), requireModules);
        }
        foreach (string root in new[] { "/", CacheRoot })
        {
            string boot = Path.Combine(root, "boot");
            if (!Directory.Exists(boot)) continue;
            var candidates = Directory.GetFiles(boot, "vmlinuz-*")
                .Select(f => (Path: f, Version: ReadVersion(f)))
                .Where(c => c.Version != null)
                .Select(c => new GuestKernel(c.Path, c.Version!, modulesDirectory ?? ModulesIn(root, c.Version!)))
                .Where(k => !requireModules || k.ModulesDirectory != null)
                .OrderByDescending(k => k.Version, KernelVersionComparer.Instance)
                .ToList();
            if (candidates.Count > 0) return Checked(candidates[0], requireModules);
        }
        throw new QemuException(QemuError.KernelNotFound, $"no kernel with its modules in /boot or {CacheRoot}: {InstallHint}");
    }

    /// <summary>
    /// The release string of a bzImage: the header ('HdrS' at 0x202) points at it (the 16-bit field at
    /// 0x20E, relative to 0x200); its first word is the version. Null when the file is no bzImage.
    /// </summary>
    public static string? ReadVersion(string kernelPath)
    {
        try
        {
            using FileStream file = File.OpenRead(kernelPath);
            byte[] head = new byte[0x210];
            if (file.ReadAtLeast(head, head.Length, throwOnEndOfStream: false) < head.Length) return null;
            if (Encoding.ASCII.GetString(head, 0x202, 4) != "HdrS") return null;
            int pointer = BitConverter.ToUInt16(head, 0x20E) + 0x200;
            if (pointer >= file.Length) return null;
            file.Position = pointer;
            byte[] text = new byte[256];
            int n = file.ReadAtLeast(text, text.Length, throwOnEndOfStream: false);
            int end = Array.FindIndex(text, 0, n, b => b is 0 or (byte)' ');
            string version = Encoding.ASCII.GetString(text, 0, end < 0 ? n : end);
            return version.Length > 0 && version.All(c => c > ' ' && c < 127 && c != '/') ? version : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static string? FindModules(string version) => ModulesIn("/", version) ?? ModulesIn(CacheRoot, version);

    private static string? ModulesIn(string root, string version)
    {
        foreach (string lib in new[] { "lib", "usr/lib" })
        {
            string dir = Path.Combine(root, lib, "modules", version);
            if (File.Exists(Path.Combine(dir, "modules.dep"))) return dir;
        }
        return null;
    }

    private static GuestKernel Checked(GuestKernel kernel, bool requireModules)
    {
        if (requireModules && (kernel.ModulesDirectory == null || !File.Exists(Path.Combine(kernel.ModulesDirectory, "modules.dep"))))
            throw new QemuException(QemuError.ModulesNotFound,
                $"the modules of kernel {kernel.Version} are not installed (no {kernel.ModulesDirectory ?? $"/lib/modules/{kernel.Version}"}/modules.dep): install the matching linux-image package or pass --modules DIR");
        return kernel;
    }

    /// <summary>Orders kernel release strings by their numbers ("6.1.0-57" after "6.1.0-9").</summary>
    private sealed class KernelVersionComparer : IComparer<string>
    {
        public static readonly KernelVersionComparer Instance = new();

        public int Compare(string? x, string? y)
        {
            long[] a = Numbers(x ?? ""), b = Numbers(y ?? "");
            for (int i = 0; i < Math.Min(a.Length, b.Length); i++)
                if (a[i] != b[i]) return a[i].CompareTo(b[i]);
            return a.Length.CompareTo(b.Length);
        }

        private static long[] Numbers(string s) =>
            System.Text.RegularExpressions.Regex.Matches(s, @"\d+").Select(m => long.TryParse(m.Value, out long v) ? v : 0).ToArray();
    }
}
