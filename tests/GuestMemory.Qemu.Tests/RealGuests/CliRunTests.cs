using System.Text.Json;
using GuestMemory.Qemu;
using GuestMemory.Qemu.Tests.Support;

namespace GuestMemory.Qemu.Tests.RealGuests;

/// <summary>
/// <c>gmm qemu run</c>, <c>list</c> and <c>dump</c> as a user runs them, and what is left when the run ends:
/// by Ctrl+C (exit 130, every QEMU ended) or by SIGKILL (its QEMUs die with it, the parent-death signal).
/// </summary>
[Collection(RealGuestCollection.Name)]
public sealed class CliRunTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("gmm-qemu-cli-").FullName;
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact(Timeout = 240_000)]
    public async Task Run_list_dump_analyze_then_ctrl_c_ends_every_QEMU_with_exit_130()
    {
        QemuPrerequisites.Get();
        using GmmCommand run = GmmCommand.Start("qemu", "run", "--vms", "1", "--ram-mib", "96", "--name", "clirun", "--no-live");
        await run.WaitForOutputAsync("ready in", 180);
        await run.WaitForOutputAsync("clirun1 running", 30); // the first refresh of the figures
        GuestRecord record = Assert.Single(RunDirectory.FindGuests("clirun1"));
        Assert.Equal(run.Pid, record.OwnerPid);

        (int exit, string listed) = GmmCommand.Run("qemu", "list", "--json");
        Assert.True(exit == 0, listed);
        using JsonDocument list = JsonDocument.Parse(listed); // the one --json shape: {"command", "result", "items"}
        JsonElement row = list.RootElement.GetProperty("items").EnumerateArray().Single(r => r.GetProperty("name").GetString() == "clirun1");
        Assert.Equal(record.QemuPid, row.GetProperty("qemu_pid").GetInt32());
        Assert.InRange(row.GetProperty("memfd_resident_bytes").GetInt64(), 1, 96L << 20);

        string dump = Path.Combine(_dir, "clirun1.raw");
        (exit, string said) = GmmCommand.Run("qemu", "dump", "clirun1", dump);
        Assert.True(exit == 0, said);
        Assert.Equal(96L << 20, new FileInfo(dump).Length);
        (exit, string analysis) = GmmCommand.Run("analyze", dump, "--json");
        Assert.True(exit == 0, analysis);
        using JsonDocument figures = JsonDocument.Parse(analysis);
        JsonElement result = figures.RootElement.GetProperty("result");
        Assert.Equal(96 * 256, result.GetProperty("pages").GetInt64());
        Assert.True(result.GetProperty("distinct_nonzero_pages").GetInt64() > 1000, "a booted kernel's pages");

        run.Signal(2); // SIGINT, as Ctrl+C
        Assert.Equal(130, run.WaitForExit(TimeSpan.FromSeconds(60)));
        Assert.False(ProcessInfo.IsAlive(record.QemuPid));
        Assert.False(Directory.Exists(Path.GetDirectoryName(record.Directory)));
    }

    [Fact(Timeout = 240_000)]
    public async Task A_gmm_killed_with_SIGKILL_takes_its_QEMUs_with_it_and_its_folder_is_reaped()
    {
        QemuPrerequisites.Get();
        using GmmCommand run = GmmCommand.Start("qemu", "run", "--vms", "1", "--ram-mib", "96", "--name", "orphan", "--no-live");
        await run.WaitForOutputAsync("ready in", 180);
        GuestRecord record = Assert.Single(RunDirectory.FindGuests("orphan1"));
        run.Signal(QemuNative.Sigkill);
        run.WaitForExit(TimeSpan.FromSeconds(30));
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (ProcessInfo.IsAlive(record.QemuPid))
        {
            if (clock.Elapsed > TimeSpan.FromSeconds(30)) Assert.Fail($"QEMU {record.QemuPid} outlived its killed gmm by 30 s");
            await Task.Delay(100, Cancel);
        }
        string ownerDirectory = Path.GetDirectoryName(record.Directory)!;
        Assert.True(Directory.Exists(ownerDirectory)); // nothing ran in the killed process to delete it
        RunDirectory.ReapStale();
        Assert.False(Directory.Exists(ownerDirectory));
    }
}
