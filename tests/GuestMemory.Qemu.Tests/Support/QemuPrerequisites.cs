using System.Diagnostics;
using GuestMemory.Qemu;

namespace GuestMemory.Qemu.Tests.Support;

/// <summary>
/// Makes sure this machine has what real guests need, installing it when missing: runs
/// <c>scripts/qemu-packages.sh</c> (copied beside the tests) once per test process. When that fails the
/// tests that need guests fail with its output: they never skip.
/// </summary>
internal static class QemuPrerequisites
{
    private static readonly Lazy<bool> Installed = new(Install, LazyThreadSafetyMode.ExecutionAndPublication);
    private static readonly Lazy<(GuestKernel Kernel, GuestImage Image)> Ready = new(Build, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>The kernel and a built guest image (cached under the test output folder), after installing what was missing.</summary>
    public static (GuestKernel Kernel, GuestImage Image) Get() => Ready.Value;

    /// <summary>The static busybox, after installing what was missing.</summary>
    public static string Busybox()
    {
        _ = Installed.Value;
        return GuestImage.FindBusybox();
    }

    private static (GuestKernel, GuestImage) Build()
    {
        _ = Installed.Value;
        GuestKernel kernel = GuestKernel.Find();
        GuestImage image = GuestImage.BuildCached(kernel, Path.Combine(AppContext.BaseDirectory, "guest-images"));
        return (kernel, image);
    }

    private static bool Install()
    {
        string script = Path.Combine(AppContext.BaseDirectory, "qemu-packages.sh");
        var start = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(script);
        using Process process = Process.Start(start)!;
        Task<string> output = process.StandardOutput.ReadToEndAsync(), errors = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(20)))
        {
            process.Kill();
            throw new InvalidOperationException("qemu-packages.sh did not finish within 20 minutes");
        }
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"the real-guest tests need QEMU, busybox-static and a kernel, and qemu-packages.sh could not install them (exit {process.ExitCode}): {output.Result}{errors.Result}");
        return true;
    }
}
