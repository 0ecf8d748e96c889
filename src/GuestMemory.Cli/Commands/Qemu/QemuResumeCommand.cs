using System.CommandLine;
using GuestMemory.Cli.Output;
using GuestMemory.Qemu;

namespace GuestMemory.Cli.Commands.Qemu;

/// <summary>
/// <c>gmm qemu resume NAME --dir D --to HOST:PORT</c>: sends a stored VM to a QEMU started with
/// <c>-incoming tcp:HOST:PORT</c> (the same machine type and devices) and waits for that QEMU to confirm it
/// loaded it; a QEMU that refuses it (another machine type, RAM blocks or devices) is reported, not guessed.
/// Reads the folder only, so it runs beside the store's listener.
/// </summary>
internal static class QemuResumeCommand
{
    public static Command Create()
    {
        Argument<string> name = StoreOptions.Name();
        Option<string> dir = StoreOptions.Dir(required: true);
        Option<string> to = StoreOptions.To("The QEMU waiting with -incoming tcp:HOST:PORT");
        var timeout = new Option<double>("--timeout") { Description = "Seconds to wait for the connection and for QEMU's confirmation", DefaultValueFactory = _ => 120 }.Within(1, 3600, " seconds");
        Option<bool> json = BenchCommand.JsonOption();
        var resume = new Command("resume", "Resume a stored VM in a QEMU started with -incoming tcp:HOST:PORT") { name, dir, to, timeout, json };
        resume.SetAction(async (p, cancel) =>
        {
            (string host, int port) = StoreOptions.HostPort(p.GetValue(to)!);
            using GlobalMemoryManager gmm = StoreOptions.Gmm(64);
            using QemuVmStore store = QemuVmStore.Open(gmm, new QemuStoreOptions { Directory = p.GetValue(dir), ReadOnly = true });
            ResumeReport report = await store.ResumeAsync(p.GetValue(name)!, host, port, TimeSpan.FromSeconds(p.GetValue(timeout)), cancel);
            if (p.GetValue(json))
                CliJson.WriteOut(CliJson.Result("qemu resume", JsonFields.Object([new("name", report.Name), new("bytes_sent", report.BytesSent), new("seconds", report.Elapsed.TotalSeconds), new("target", $"{host}:{port}")])));
            else CliConsole.Out.Line($"resumed {report.Name} in the QEMU at {host}:{port}: {StoreOptions.Mib(report.BytesSent)} sent, loaded in {report.Elapsed.TotalSeconds:0.00} s");
            return 0;
        });
        return resume;
    }
}
