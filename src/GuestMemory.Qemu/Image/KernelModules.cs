using System.Diagnostics;
using System.IO.Compression;

namespace GuestMemory.Qemu;

/// <summary>
/// A kernel's module tree (<c>lib/modules/VERSION</c>): which modules exist (<c>modules.dep</c>, with the
/// modules each needs), which are built into the kernel (<c>modules.builtin</c>), and the order to load
/// a set of them in (every module after the modules it needs). Modules may be stored plain (<c>.ko</c>,
/// as Debian 12 ships them) or compressed (<c>.ko.gz</c>, <c>.ko.xz</c>, <c>.ko.zst</c>, as newer
/// distributions do); <see cref="ReadModule"/> returns them decompressed, because busybox's insmod in
/// the guest loads only plain modules.
/// </summary>
public sealed class KernelModules
{
    private readonly Dictionary<string, (string Path, string[] Needs)> _modules;
    private readonly HashSet<string> _builtin;

    private KernelModules(string directory, Dictionary<string, (string, string[])> modules, HashSet<string> builtin)
    {
        Directory = directory;
        _modules = modules;
        _builtin = builtin;
    }

    /// <summary>The module tree's folder.</summary>
    public string Directory { get; }

    /// <summary>Reads <c>modules.dep</c> and <c>modules.builtin</c> of <paramref name="directory"/>.</summary>
    /// <exception cref="QemuException"><see cref="QemuError.ModulesNotFound"/> when modules.dep is missing.</exception>
    public static KernelModules Load(string directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        string dep = System.IO.Path.Combine(directory, "modules.dep");
        if (!File.Exists(dep)) throw new QemuException(QemuError.ModulesNotFound, $"{dep} does not exist: install the kernel's linux-image package or pass the right --modules DIR");
        var modules = new Dictionary<string, (string, string[])>(StringComparer.Ordinal);
        foreach (string line in File.ReadLines(dep))
        {
            int colon = line.IndexOf(':');
            if (colon <= 0) continue;
            string path = line[..colon].Trim();
            string[] needs = line[(colon + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(NameOf).ToArray();
            modules[NameOf(path)] = (path, needs);
        }
        string builtinFile = System.IO.Path.Combine(directory, "modules.builtin");
        var builtin = File.Exists(builtinFile)
            ? File.ReadLines(builtinFile).Where(l => l.Length > 0).Select(NameOf).ToHashSet(StringComparer.Ordinal)
            : new HashSet<string>(StringComparer.Ordinal);
        return new KernelModules(directory, modules, builtin);
    }

    /// <summary>"kernel/drivers/virtio/virtio-pci.ko.xz" → "virtio_pci" (the name lsmod shows: dashes become underscores).</summary>
    public static string NameOf(string pathOrName)
    {
        ArgumentNullException.ThrowIfNull(pathOrName);
        string name = System.IO.Path.GetFileName(pathOrName.Trim());
        int ko = name.IndexOf(".ko", StringComparison.Ordinal);
        if (ko >= 0) name = name[..ko];
        return name.Replace('-', '_');
    }

    /// <summary>True when the module is compiled into the kernel (nothing to load).</summary>
    public bool IsBuiltin(string name) => _builtin.Contains(NameOf(name));

    /// <summary>True when the module exists as a loadable file.</summary>
    public bool Exists(string name) => _modules.ContainsKey(NameOf(name));

    /// <summary>
    /// The loadable modules <paramref name="names"/> need, each after every module it needs, each once;
    /// built-in modules are left out (they need no loading).
    /// </summary>
    /// <exception cref="QemuException"><see cref="QemuError.ModulesNotFound"/> for a module that is neither loadable nor built in.</exception>
    public IReadOnlyList<string> LoadOrder(IEnumerable<string> names)
    {
        ArgumentNullException.ThrowIfNull(names);
        var order = new List<string>();
        var done = new HashSet<string>(StringComparer.Ordinal);
        foreach (string name in names) Visit(NameOf(name), order, done, new HashSet<string>(StringComparer.Ordinal));
        return order;
    }

    private void Visit(string name, List<string> order, HashSet<string> done, HashSet<string> path)
    {
        if (done.Contains(name)) return;
        if (!_modules.TryGetValue(name, out var module))
        {
            if (_builtin.Contains(name)) return;
            throw new QemuException(QemuError.ModulesNotFound, $"module {name} is neither in {Directory}/modules.dep nor built into the kernel");
        }
        if (!path.Add(name)) throw new QemuException(QemuError.ModulesNotFound, $"modules.dep of {Directory} has a dependency cycle through {name}");
        foreach (string need in module.Needs) Visit(need, order, done, path);
        path.Remove(name);
        done.Add(name);
        order.Add(name);
    }

    /// <summary>The path of a loadable module's file inside the tree.</summary>
    public string PathOf(string name) =>
        System.IO.Path.Combine(Directory, _modules.TryGetValue(NameOf(name), out var m) ? m.Path
            : throw new QemuException(QemuError.ModulesNotFound, $"module {name} is not in {Directory}/modules.dep"));

    /// <summary>
    /// A module's bytes, decompressed: <c>.ko</c> as is, <c>.ko.gz</c> with the BCL, <c>.ko.xz</c> with
    /// busybox's <c>unxz</c> (<paramref name="busybox"/>), <c>.ko.zst</c> with the <c>zstd</c> tool.
    /// </summary>
    /// <exception cref="QemuException"><see cref="QemuError.ToolNotFound"/> when the decompressor is missing;
    /// <see cref="QemuError.ModulesNotFound"/> when the file is missing or does not decompress.</exception>
    public byte[] ReadModule(string name, string busybox)
    {
        byte[] module = ReadFile(PathOf(name), busybox);
        // busybox's unxz exits 0 on input that is no xz at all and writes nothing: check what came out.
        if (module.Length < 4 || module[0] != 0x7F || module[1] != (byte)'E' || module[2] != (byte)'L' || module[3] != (byte)'F')
            throw new QemuException(QemuError.ModulesNotFound, $"{PathOf(name)} did not give an ELF module (corrupt, or not a kernel module)");
        return module;
    }

    private static byte[] ReadFile(string path, string busybox)
    {
        if (!File.Exists(path)) throw new QemuException(QemuError.ModulesNotFound, $"{path} is listed in modules.dep but missing");
        if (path.EndsWith(".ko", StringComparison.Ordinal)) return File.ReadAllBytes(path);
        if (path.EndsWith(".ko.gz", StringComparison.Ordinal))
        {
            using var gzip = new GZipStream(File.OpenRead(path), CompressionMode.Decompress);
            using var memory = new MemoryStream();
            gzip.CopyTo(memory);
            return memory.ToArray();
        }
        if (path.EndsWith(".ko.xz", StringComparison.Ordinal)) return Decompress(busybox, ["unxz", "-c", path], "busybox-static");
        if (path.EndsWith(".ko.zst", StringComparison.Ordinal))
            return Decompress(QemuBinary.FindOnPath("zstd") ?? throw new QemuException(QemuError.ToolNotFound, $"{path} is zstd-compressed and zstd is not installed: install Debian's zstd"), ["-dc", path], "zstd");
        throw new QemuException(QemuError.ModulesNotFound, $"{path} has a compression this builder does not know");
    }

    private static byte[] Decompress(string program, string[] arguments, string package)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in arguments) start.ArgumentList.Add(a);
        try
        {
            using Process process = Process.Start(start)!;
            using var memory = new MemoryStream();
            Task<string> errors = process.StandardError.ReadToEndAsync();
            process.StandardOutput.BaseStream.CopyTo(memory);
            process.WaitForExit();
            if (process.ExitCode != 0)
                throw new QemuException(QemuError.ModulesNotFound, $"{program} {string.Join(' ', arguments)} failed (exit {process.ExitCode}): {errors.Result.Trim()}");
            return memory.ToArray();
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new QemuException(QemuError.ToolNotFound, $"{program} cannot be run ({e.Message}): install Debian's {package}", e);
        }
    }
}
