using GuestMemory.Qemu;
using GuestMemory.Qemu.Tests.Support;

namespace GuestMemory.Qemu.Tests.Unit;

/// <summary><c>gmm qemu</c> without booting anything: help, bad options (exit 1, one short line) and typed errors (exit 2).</summary>
public sealed class CliErrorTests
{
    [Fact]
    public void Every_qemu_command_has_help()
    {
        foreach (string[] args in new[] { new[] { "qemu", "--help" }, ["qemu", "run", "--help"], ["qemu", "dump", "--help"], ["qemu", "list", "--help"], ["bench", "qemu-balloon", "--help"] })
        {
            (int exit, string output) = GmmCommand.Run(args);
            Assert.True(exit == 0, output);
            Assert.Contains("Usage:", output);
        }
        Assert.Contains("--accel", GmmCommand.Run("qemu", "run", "--help").Output);
        Assert.Contains("--budget-mib", GmmCommand.Run("qemu", "run", "--help").Output);
    }

    [Theory]
    [InlineData("qemu", "run", "--vms", "0")]
    [InlineData("qemu", "run", "--ram-mib", "1")]
    [InlineData("qemu", "run", "--accel", "hvf")]
    [InlineData("qemu", "run", "--workload", "dance")]
    [InlineData("qemu", "run", "--name", "a b")]
    [InlineData("qemu", "dump", "only-a-name")]
    [InlineData("qemu", "run", "--budget-mib", "10")]
    [InlineData("qemu", "run", "--report", "r.html")]
    [InlineData("bench", "qemu-balloon", "--vms", "1")]
    [InlineData("bench", "qemu-balloon", "--accel", "hvf")]
    [InlineData("bench", "qemu", "--accel", "hvf")]
    [InlineData("bench", "qemu-store", "--accel", "hvf")]
    public void A_bad_option_is_one_short_line_and_exit_1(params string[] args)
    {
        (int exit, string output) = GmmCommand.Run(args);
        Assert.True(exit == 1, output);
        Assert.StartsWith("gmm:", output.TrimStart());
        Assert.True(output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length <= 2, output); // the error and where to look
    }

    [Fact]
    public void A_missing_kernel_or_guest_is_a_typed_error_with_exit_2()
    {
        (int exit, string output) = GmmCommand.Run("qemu", "run", "--kernel", "/nonexistent/vmlinuz", "--duration", "1");
        Assert.True(exit == 2, output);
        Assert.Contains("KernelNotFound", output);
        Assert.Contains("linux-image-amd64", output);
        (exit, output) = GmmCommand.Run("qemu", "dump", "no-such-guest", Path.Combine(Path.GetTempPath(), "never-written.raw"));
        Assert.True(exit == 2, output);
        Assert.Contains("GuestNotFound", output);
        Assert.False(File.Exists(Path.Combine(Path.GetTempPath(), "never-written.raw")));
    }

    [Fact]
    public void A_report_that_cannot_be_written_is_a_typed_error_before_any_guest_boots()
    {
        (int exit, string output) = GmmCommand.Run("qemu", "run", "--budget-mib", "256", "--report", "/nonexistent/dir/run.html");
        Assert.True(exit == 2, output);
        Assert.Contains("IoError", output);
        Assert.DoesNotContain("Booting", output);
    }

    [Fact]
    public void Asking_for_kvm_where_it_does_not_work_is_a_typed_error()
    {
        QemuPrerequisites.Busybox(); // so the kernel check passes and the accelerator is what fails
        (int exit, string output) = GmmCommand.Run("qemu", "run", "--accel", "kvm", "--duration", "1", "--vms", "1", "--ram-mib", "64");
        if (AcceleratorProbe.WhyNotKvm() != null)
        {
            Assert.True(exit == 2, output);
            Assert.Contains("AcceleratorUnavailable", output);
        }
        else Assert.True(exit == 0, output);
    }
}
