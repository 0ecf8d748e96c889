using System.IO.Compression;
using GuestMemory.Qemu;
using GuestMemory.Qemu.Tests.Support;

namespace GuestMemory.Qemu.Tests.Unit;

/// <summary><see cref="KernelModules"/>: load order from modules.dep, built-ins, compressed modules; and the real kernel's virtio chain.</summary>
public sealed class KernelModulesTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("gmm-modules-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Every_module_comes_after_the_modules_it_needs_each_once_built_ins_left_out()
    {
        KernelModules modules = Tree(
            "kernel/a.ko: kernel/b.ko kernel/c-dash.ko",
            "kernel/b.ko: kernel/c-dash.ko",
            "kernel/c-dash.ko:",
            "kernel/d.ko: kernel/b.ko");
        File.WriteAllText(Path.Combine(_dir, "modules.builtin"), "kernel/builtin-one.ko\n");
        modules = KernelModules.Load(_dir);
        Assert.Equal(["c_dash", "b", "a", "d"], modules.LoadOrder(["a", "d", "builtin-one", "b"]));
        Assert.True(modules.IsBuiltin("builtin_one"));
        Assert.Equal(QemuError.ModulesNotFound, Assert.Throws<QemuException>(() => modules.LoadOrder(["nothing"])).Error);
    }

    [Fact]
    public void A_dependency_cycle_is_reported_not_followed_forever()
    {
        KernelModules modules = Tree("kernel/x.ko: kernel/y.ko", "kernel/y.ko: kernel/x.ko");
        Assert.Equal(QemuError.ModulesNotFound, Assert.Throws<QemuException>(() => modules.LoadOrder(["x"])).Error);
    }

    [Fact]
    public void Plain_gzip_and_xz_modules_read_back_decompressed()
    {
        byte[] content = "\u007fELF module bytes for the decompression test\n"u8.ToArray();
        KernelModules modules = Tree("kernel/plain.ko:", "kernel/gz.ko.gz:", "kernel/xz.ko.xz:");
        Directory.CreateDirectory(Path.Combine(_dir, "kernel"));
        File.WriteAllBytes(Path.Combine(_dir, "kernel/plain.ko"), content);
        using (var gz = new GZipStream(File.Create(Path.Combine(_dir, "kernel/gz.ko.gz")), CompressionLevel.Fastest)) gz.Write(content);
        File.Copy(Path.Combine(AppContext.BaseDirectory, "Data/hello.ko.xz"), Path.Combine(_dir, "kernel/xz.ko.xz"));
        string busybox = QemuPrerequisites.Busybox();
        foreach (string name in new[] { "plain", "gz", "xz" }) Assert.Equal(content, modules.ReadModule(name, busybox));
        File.WriteAllBytes(Path.Combine(_dir, "kernel/xz.ko.xz"), [1, 2, 3]);
        Assert.Equal(QemuError.ModulesNotFound, Assert.Throws<QemuException>(() => modules.ReadModule("xz", busybox)).Error);
        File.WriteAllBytes(Path.Combine(_dir, "kernel/plain.ko"), "not elf"u8.ToArray());
        Assert.Equal(QemuError.ModulesNotFound, Assert.Throws<QemuException>(() => modules.ReadModule("plain", busybox)).Error);
    }

    [Fact]
    public void A_tree_without_modules_dep_is_ModulesNotFound() =>
        Assert.Equal(QemuError.ModulesNotFound, Assert.Throws<QemuException>(() => KernelModules.Load(_dir)).Error);

    [Fact]
    public void The_real_kernel_loads_the_virtio_chain_in_dependency_order()
    {
        (GuestKernel kernel, GuestImage image) = QemuPrerequisites.Get();
        KernelModules modules = KernelModules.Load(kernel.ModulesDirectory!);
        IReadOnlyList<string> order = modules.LoadOrder(["virtio_balloon", "virtio_pci"]);
        string[] chain = ["virtio_ring", "virtio", "virtio_pci_modern_dev", "virtio_pci_legacy_dev", "virtio_pci", "virtio_balloon"];
        foreach (string m in chain) Assert.True(order.Contains(m) || modules.IsBuiltin(m), $"{m} is missing");
        Assert.True(Index(order, "virtio_ring") < Index(order, "virtio") && Index(order, "virtio") < Index(order, "virtio_pci"));
        Assert.True(Index(order, "virtio_pci_modern_dev") < Index(order, "virtio_pci") && Index(order, "virtio_pci_legacy_dev") < Index(order, "virtio_pci"));
        Assert.True(Index(order, "virtio") < Index(order, "virtio_balloon"));
        Assert.Equal(image.Modules, modules.LoadOrder(GuestImageOptions.DefaultModules));
    }

    private static int Index(IReadOnlyList<string> order, string name) => order.ToList().IndexOf(name) is var i and >= 0 ? i : -1;

    private KernelModules Tree(params string[] depLines)
    {
        File.WriteAllLines(Path.Combine(_dir, "modules.dep"), depLines);
        return KernelModules.Load(_dir);
    }
}
