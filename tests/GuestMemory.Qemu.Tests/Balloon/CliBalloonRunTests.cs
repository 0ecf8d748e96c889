using GuestMemory.Qemu.Tests.Support;

namespace GuestMemory.Qemu.Tests.Balloon;

/// <summary><c>gmm qemu run --budget-mib --report</c> as a user runs it: the balloon figures each second, and the report at the end.</summary>
public sealed class CliBalloonRunTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("gmm-qemu-balloon-cli-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact(Timeout = 240_000)]
    public void A_run_with_a_budget_shows_each_balloon_and_writes_the_report()
    {
        QemuPrerequisites.Get();
        string report = Path.Combine(_dir, "run.html");
        (int exit, string output) = GmmCommand.Run("qemu", "run", "--vms", "2", "--ram-mib", "128", "--name", "clibal", "--budget-mib", "160",
            "--duration", "15", "--no-live", "--report", report);
        Assert.True(exit == 0, output);
        Assert.Contains("of budget 160 MiB", output);
        Assert.Contains("clibal1 working target", output); // its driver reported and the controller steered it
        string html = File.ReadAllText(report);
        Assert.Contains("balloon (RAM taken from it)", html);
        Assert.Contains("clibal2", html);
        Assert.Equal(3, html.Split("<svg").Length - 1);
    }
}
