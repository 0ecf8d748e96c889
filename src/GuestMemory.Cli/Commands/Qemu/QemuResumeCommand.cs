using System.CommandLine;
using GuestMemory.Cli.Output;
using GuestMemory.Qemu;

namespace GuestMemory.Cli.Commands.Qemu;

/// <summary>
/// <c>gmm qemu resume NAME --dir D --to HOST:PORT</c>: sends a stored VM to a QEMU started with
/// <c>-incoming tcp:HOST:PORT</c> (the same machine type and devices) and waits for that QEMU to confirm it
/// loaded it; a QEMU that refuses it (another machine type, RAM blocks or devices) is reported, not guessed.
/// <c>--run</c> instead starts a guest of gmm's own for it (RAM in a memfd this process owns, which the VM's
/// main RAM is written into directly) and keeps it running until Ctrl+C or <c>--duration</c>.
/// Reads the folder only, so it runs beside the store's listener.
/// </summary>
internal static class QemuResumeCommand
{
    public static Command Create()
    {
        Argument<string> name = StoreOptions.Name();
        Option<string> dir = StoreOptions.Dir(required: true);
        Option<string> to = StoreOptions.To("The QEMU waiting with -incoming tcp:HOST:PORT", required: false);
        var run = new Option<bool>("--run") { Description = "Start a guest of gmm's own for the VM (its RAM a memfd this process owns, written directly) and keep it running until Ctrl+C or --duration" };
        var guestName = new Option<string?>("--name") { Description = "With --run: the guest's name (default: the stored VM's)" };
        var cpus = new Option<int>("--cpus") { Description = "With --run: virtual CPUs (as the QEMU the VM came from had)", DefaultValueFactory = _ => 1 }.Within(1, 16);
        var seconds = new Option<double>("--duration") { Description = "With --run: how long the guest runs, seconds (0: until Ctrl+C)", DefaultValueFactory = _ => 0 }.Within(0, 7 * 86400, " seconds");
        var timeout = new Option<double>("--timeout") { Description = "Seconds to wait for the connection and for QEMU's confirmation", DefaultValueFactory = _ => 120 }.Within(1, 3600, " seconds");
        Option<bool> json = BenchCommand.JsonOption();
        var setup = new QemuCommand.GuestSetup();
        var resume = new Command("resume", "Resume a stored VM in a QEMU started with -incoming tcp:HOST:PORT, or in a guest of gmm's own (--run)") { name, dir, to, run, guestName, cpus, seconds, timeout, json };
        setup.AddTo(resume);
        resume.Validators.Add(r =>
        {
            bool toGiven = r.GetResult(to) is { Implicit: false }, runGiven = r.GetValue(run);
            if (toGiven == runGiven) r.AddError("give either --to HOST:PORT (a QEMU waiting for the VM) or --run (a guest of gmm's own)");
            Option[] runOnly = [guestName, cpus, seconds, setup.Kernel, setup.Initrd, setup.Modules, setup.Accel];
            if (!runGiven && runOnly.Any(o => r.GetResult(o) is { Implicit: false }))
                r.AddError("--name, --cpus, --duration, --kernel, --initrd, --modules and --accel go with --run");
            if (r.GetValue(guestName) is string n && !GuestOptions.IsValidName(n)) r.AddError($"--name must be 1-32 of letters, digits, '-' and '_', not '{n}'");
        });
        resume.SetAction(async (p, cancel) =>
        {
            using GlobalMemoryManager gmm = StoreOptions.Gmm(64); // a read-only folder: pages come from its files, not from this host's memory
            using QemuVmStore store = QemuVmStore.Open(gmm, new QemuStoreOptions { Directory = p.GetValue(dir), ReadOnly = true });
            string vm = p.GetValue(name)!;
            if (p.GetValue(run))
                return await RunAsync(store, vm, p.GetValue(guestName), p.GetValue(cpus), p.GetValue(seconds), TimeSpan.FromSeconds(p.GetValue(timeout)), setup.Resolve(p), p.GetValue(json), cancel);
            (string host, int port) = StoreOptions.HostPort(p.GetValue(to)!);
            ResumeReport report = await store.ResumeAsync(vm, host, port, TimeSpan.FromSeconds(p.GetValue(timeout)), cancel);
            if (p.GetValue(json))
                CliJson.WriteOut(CliJson.Result("qemu resume", JsonFields.Object([new("name", report.Name), new("bytes_sent", report.BytesSent), new("seconds", report.Elapsed.TotalSeconds), new("target", $"{host}:{port}")])));
            else CliConsole.Out.Line($"resumed {report.Name} in the QEMU at {host}:{port}: {StoreOptions.Mib(report.BytesSent)} sent, loaded in {report.Elapsed.TotalSeconds:0.00} s");
            return 0;
        });
        return resume;
    }

    /// <summary>Resumes <paramref name="vm"/> into a guest of this process and keeps it until the duration is over or Ctrl+C; a guest that dies is an error.</summary>
    private static async Task<int> RunAsync(QemuVmStore store, string vm, string? guestName, int cpus, double seconds, TimeSpan timeout,
        (GuestKernel Kernel, GuestImage? Image, string? CustomInitrd, Accelerator Accelerator) setup, bool json, CancellationToken cancel)
    {
        StoredVmInfo info = store.List().FirstOrDefault(v => v.Name == vm) ?? throw new QemuException(QemuError.StoredVmNotFound, $"no stored VM named {vm}");
        string name = guestName ?? (GuestOptions.IsValidName(vm) ? vm : throw new QemuException(QemuError.InvalidArgument, $"stored VM {vm} is no guest name: give one with --name"));
        var options = new GuestOptions
        {
            Name = name, RamBytes = info.MainRamBytes, Cpus = cpus, Kernel = setup.Kernel, Image = setup.Image, CustomInitrd = setup.CustomInitrd,
            Accelerator = setup.Accelerator, BootTimeout = timeout,
        };
        ResumedGuest resumed = await store.ResumeGuestAsync(vm, options, cancel);
        await using QemuGuest guest = resumed.Guest;
        long resident = guest.Ram?.ResidentBytes ?? 0;
        if (json)
            CliJson.WriteOut(CliJson.Result("qemu resume", JsonFields.Object([new("name", vm), new("guest", guest.Name), new("qemu_pid", guest.Pid), new("bytes_sent", resumed.Report.BytesSent),
                new("seconds", resumed.Report.Elapsed.TotalSeconds), new("resident_bytes", resident)])));
        else
            CliConsole.Out.Line($"resumed {vm} as guest {guest.Name} (QEMU pid {guest.Pid}) in {resumed.Report.Elapsed.TotalSeconds:0.00} s: its main RAM written into the guest's memfd ({StoreOptions.Mib(resident)} resident), {StoreOptions.Mib(resumed.Report.BytesSent)} through the stream; {(seconds > 0 ? $"it runs for {seconds:0.#} s" : "Ctrl+C ends it")}");
        Task ended = seconds > 0 ? Task.Delay(TimeSpan.FromSeconds(seconds), cancel) : Task.Delay(Timeout.Infinite, cancel);
        await Task.WhenAny(ended, guest.Exited);
        if (guest.Exited.IsCompleted) throw new QemuException(QemuError.GuestDied, $"guest {guest.Name} ended (QEMU exit status {await guest.Exited}): {guest.LastWords()}");
        await ended; // throws on Ctrl+C
        await guest.ShutdownAsync(TimeSpan.FromSeconds(10), CancellationToken.None);
        return 0;
    }
}
