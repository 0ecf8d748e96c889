using System.Runtime.InteropServices;

namespace GuestMemory.Qemu;

/// <summary>How QEMU runs the guest's CPU.</summary>
public enum Accelerator
{
    /// <summary>KVM when <see cref="AcceleratorProbe.KvmWorks"/>, else TCG.</summary>
    Auto,
    /// <summary>QEMU's own translator: runs anywhere, slowly (a busybox guest boots in about 10 s).</summary>
    Tcg,
    /// <summary>Hardware virtualization through /dev/kvm.</summary>
    Kvm,
}

/// <summary>
/// Decides whether KVM can run an ordinary guest kernel here. It is never assumed: /dev/kvm must open
/// read-write, answer KVM_GET_API_VERSION with 12, and the processor must offer hardware virtualization
/// (the <c>vmx</c> or <c>svm</c> flag in /proc/cpuinfo). The last test is what tells a paravirtual KVM
/// (PVM, which provides /dev/kvm inside a VM without hardware support and cannot run a normal guest
/// kernel: <c>-enable-kvm</c> hangs or aborts there) from a real one.
/// </summary>
public static class AcceleratorProbe
{
    private const string KvmDevice = "/dev/kvm";
    private const nuint KvmGetApiVersion = 0xAE00; // _IO(KVMIO, 0x00)
    private const int KvmApiVersion = 12;

    /// <summary>True when KVM opens, answers and has hardware virtualization under it (see the type's note).</summary>
    public static bool KvmWorks() => WhyNotKvm() == null;

    /// <summary>Null when KVM works; else why not, in words for an error message.</summary>
    public static string? WhyNotKvm()
    {
        if (!File.Exists(KvmDevice)) return $"{KvmDevice} does not exist (no KVM here)";
        int fd = QemuNative.Open(KvmDevice, QemuNative.ORdwr | QemuNative.OCloexec);
        if (fd < 0) return $"{KvmDevice} does not open read-write (errno {Marshal.GetLastPInvokeError()})";
        try
        {
            int version = QemuNative.Ioctl(fd, KvmGetApiVersion, 0);
            if (version != KvmApiVersion) return $"{KvmDevice} answers KVM_GET_API_VERSION with {version}, not {KvmApiVersion}";
        }
        finally
        {
            QemuNative.Close(fd);
        }
        return HasHardwareVirtualization(SafeRead("/proc/cpuinfo"))
            ? null
            : "the processor offers no hardware virtualization (no vmx or svm flag): this /dev/kvm is a paravirtual KVM that cannot run an ordinary guest kernel";
    }

    /// <summary>Turns <see cref="Accelerator.Auto"/> into TCG or KVM; checks that an explicit KVM works.</summary>
    /// <exception cref="QemuException"><see cref="QemuError.AcceleratorUnavailable"/> for KVM that does not work here.</exception>
    public static Accelerator Resolve(Accelerator requested)
    {
        switch (requested)
        {
            case Accelerator.Tcg: return Accelerator.Tcg;
            case Accelerator.Auto: return KvmWorks() ? Accelerator.Kvm : Accelerator.Tcg;
            case Accelerator.Kvm:
                string? why = WhyNotKvm();
                if (why != null) throw new QemuException(QemuError.AcceleratorUnavailable, $"-accel kvm cannot be used: {why}; use tcg (or auto)");
                return Accelerator.Kvm;
            default: throw new QemuException(QemuError.InvalidArgument, $"unknown accelerator {requested}");
        }
    }

    /// <summary>True when a /proc/cpuinfo text has a <c>flags</c> line with <c>vmx</c> or <c>svm</c>.</summary>
    public static bool HasHardwareVirtualization(string cpuinfo)
    {
        ArgumentNullException.ThrowIfNull(cpuinfo);
        foreach (string line in cpuinfo.Split('\n'))
        {
            if (!line.StartsWith("flags", StringComparison.Ordinal)) continue;
            string[] flags = line[(line.IndexOf(':') + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (flags.Contains("vmx") || flags.Contains("svm")) return true;
        }
        return false;
    }

    private static string SafeRead(string path)
    {
        try { return File.ReadAllText(path); }
        catch (IOException) { return ""; }
    }
}
