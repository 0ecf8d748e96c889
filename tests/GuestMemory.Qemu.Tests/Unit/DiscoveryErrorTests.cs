using GuestMemory.Qemu;
using GuestMemory.Qemu.Tests.Support;

namespace GuestMemory.Qemu.Tests.Unit;

/// <summary>
/// Finding QEMU, the kernel, its modules, busybox and the accelerator: each failure is typed and says
/// what to install or pass.
/// </summary>
public sealed class DiscoveryErrorTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("gmm-discovery-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void A_missing_QEMU_names_the_Debian_package()
    {
        QemuException e = Assert.Throws<QemuException>(() => QemuBinary.Find(Path.Combine(_dir, "qemu-system-x86_64")));
        Assert.Equal(QemuError.QemuNotFound, e.Error);
        Assert.Contains("qemu-system-x86", e.Message);
    }

    [Theory]
    [InlineData("QEMU emulator version 6.2.0 (Debian 1:6.2+dfsg-2ubuntu6)", QemuError.QemuTooOld)]
    [InlineData("something else entirely", QemuError.QemuTooOld)]
    public void An_old_or_unreadable_QEMU_is_refused(string versionLine, QemuError expected)
    {
        string fake = Path.Combine(_dir, "qemu-system-x86_64");
        File.WriteAllText(fake, $"#!/bin/sh\necho '{versionLine}'\n");
        File.SetUnixFileMode(fake, (UnixFileMode)0x1ED);
        Assert.Equal(expected, Assert.Throws<QemuException>(() => QemuBinary.Find(fake)).Error);
    }

    [Fact]
    public void Version_lines_parse_to_their_numbers()
    {
        Assert.Equal(new Version(7, 2, 22), QemuBinary.ParseVersion("QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)"));
        Assert.Equal(new Version(9, 0, 0), QemuBinary.ParseVersion("QEMU emulator version 9.0"));
        Assert.Null(QemuBinary.ParseVersion("no version here"));
    }

    [Fact]
    public void The_installed_QEMU_is_found_and_new_enough()
    {
        QemuPrerequisites.Busybox(); // installs what is missing
        QemuBinary qemu = QemuBinary.Find();
        Assert.True(qemu.Version >= QemuBinary.MinimumVersion);
    }

    [Fact]
    public void A_missing_or_foreign_kernel_file_is_KernelNotFound_with_what_to_install()
    {
        QemuException missing = Assert.Throws<QemuException>(() => GuestKernel.Find(Path.Combine(_dir, "vmlinuz")));
        Assert.Equal(QemuError.KernelNotFound, missing.Error);
        Assert.Contains("linux-image-amd64", missing.Message);
        string notKernel = Path.Combine(_dir, "not-a-kernel");
        File.WriteAllBytes(notKernel, new byte[4096]);
        Assert.Equal(QemuError.KernelNotFound, Assert.Throws<QemuException>(() => GuestKernel.Find(notKernel)).Error);
    }

    [Fact]
    public void A_kernel_is_read_from_its_bzImage_header_and_its_modules_must_exist()
    {
        string kernel = FakeBzImage("6.1.99-fake (builder@host) #1 SMP");
        Assert.Equal("6.1.99-fake", GuestKernel.ReadVersion(kernel));
        QemuException e = Assert.Throws<QemuException>(() => GuestKernel.Find(kernel));
        Assert.Equal(QemuError.ModulesNotFound, e.Error);
        GuestKernel noModules = GuestKernel.Find(kernel, requireModules: false);
        Assert.Null(noModules.ModulesDirectory);
        Assert.Equal(QemuError.ModulesNotFound, Assert.Throws<QemuException>(() => GuestImage.Build(noModules, Path.Combine(_dir, "img"))).Error);
        string modules = Path.Combine(_dir, "modules");
        Directory.CreateDirectory(modules);
        File.WriteAllText(Path.Combine(modules, "modules.dep"), "");
        Assert.Equal(modules, GuestKernel.Find(kernel, modules).ModulesDirectory);
    }

    [Fact]
    public void The_real_kernel_is_found_with_its_modules()
    {
        (GuestKernel kernel, _) = QemuPrerequisites.Get();
        Assert.Equal(kernel.Version, GuestKernel.ReadVersion(kernel.KernelPath));
        Assert.True(File.Exists(Path.Combine(kernel.ModulesDirectory!, "modules.dep")));
    }

    [Fact]
    public void A_dynamically_linked_or_missing_busybox_is_refused_naming_busybox_static()
    {
        string dynamic = QemuBinary.FindOnPath("ls")!; // any dynamically linked program
        QemuException e = Assert.Throws<QemuException>(() => GuestImage.FindBusybox(dynamic));
        Assert.Equal(QemuError.ToolNotFound, e.Error);
        Assert.Contains("busybox-static", e.Message);
        Assert.Equal(QemuError.ToolNotFound, Assert.Throws<QemuException>(() => GuestImage.FindBusybox(Path.Combine(_dir, "busybox"))).Error);
        Assert.Equal(QemuPrerequisites.Busybox(), GuestImage.FindBusybox(QemuPrerequisites.Busybox()));
    }

    [Fact]
    public void KVM_is_used_only_where_it_works_and_asked_for_where_it_does_not_is_a_typed_error()
    {
        string? why = AcceleratorProbe.WhyNotKvm();
        Assert.Equal(why == null ? Accelerator.Kvm : Accelerator.Tcg, AcceleratorProbe.Resolve(Accelerator.Auto));
        Assert.Equal(Accelerator.Tcg, AcceleratorProbe.Resolve(Accelerator.Tcg));
        if (why == null) Assert.Equal(Accelerator.Kvm, AcceleratorProbe.Resolve(Accelerator.Kvm));
        else Assert.Equal(QemuError.AcceleratorUnavailable, Assert.Throws<QemuException>(() => AcceleratorProbe.Resolve(Accelerator.Kvm)).Error);
        Assert.True(AcceleratorProbe.HasHardwareVirtualization("processor : 0\nflags\t\t: fpu vme vmx sse\n"));
        Assert.True(AcceleratorProbe.HasHardwareVirtualization("flags : fpu svm\n"));
        Assert.False(AcceleratorProbe.HasHardwareVirtualization("flags : fpu vmxnet sse\n"));
        Assert.False(AcceleratorProbe.HasHardwareVirtualization(""));
    }

    /// <summary>A file with just the bzImage header fields <see cref="GuestKernel.ReadVersion"/> reads.</summary>
    private string FakeBzImage(string versionString)
    {
        byte[] image = new byte[0x1000];
        "HdrS"u8.CopyTo(image.AsSpan(0x202));
        BitConverter.TryWriteBytes(image.AsSpan(0x20E), (ushort)(0x400 - 0x200));
        System.Text.Encoding.ASCII.GetBytes(versionString + "\0").CopyTo(image, 0x400);
        string path = Path.Combine(_dir, "vmlinuz-fake");
        File.WriteAllBytes(path, image);
        return path;
    }
}
