using System.CommandLine;
using System.Net;
using System.Text.Json.Nodes;
using GuestMemory.Cli.Output;
using GuestMemory.Qemu;
using Spectre.Console;

namespace GuestMemory.Cli.Commands.Qemu;

/// <summary>
/// <c>gmm qemu store listen|list|delete|move</c>: GuestMemory as QEMU's migration peer (docs/qemu-store.md).
/// <c>listen</c> takes VMs that QEMU migrates to it (<c>migrate -d tcp:HOST:PORT</c>) or that another store
/// moves to it; the other commands work on a store folder (<c>list</c> reads it beside a running listener;
/// <c>delete</c> and <c>move</c> need the folder's writer lock, so no listener may run on it).
/// </summary>
internal static class QemuStoreCommand
{
    public static Command Create()
    {
        var store = new Command("store", "Keep QEMU VMs suspended and deduplicated: take them from QEMU's migration, list, delete, move them");
        store.Subcommands.Add(Listen());
        store.Subcommands.Add(List());
        store.Subcommands.Add(Delete());
        store.Subcommands.Add(Move());
        return store;
    }

    private static Command Listen()
    {
        var port = new Option<int>("--port") { Description = "TCP port QEMU migrates to (0: any free port; see --ready-file)", Required = true }.Within(0, 65535);
        var address = new Option<string>("--address") { Description = "IP address to listen on", DefaultValueFactory = _ => "127.0.0.1" };
        address.Validators.Add(r =>
        {
            string? text = r.Tokens.Count > 0 ? r.Tokens[^1].Value : null;
            if (text != null && !IPAddress.TryParse(text, out _)) r.AddError($"--address must be an IP address, not '{text}'");
        });
        Option<string> dir = StoreOptions.Dir(required: false);
        var resident = new Option<bool>("--keep-resident") { Description = "Keep persisted VMs' RAM in memory too (a store that moves answer from memory); default: give it back once on disk" };
        var count = new Option<int>("--count") { Description = "Exit after this many arrivals, stored or failed (0: until Ctrl+C)", DefaultValueFactory = _ => 0 }.Within(0, 100_000);
        var prefix = new Option<string>("--name") { Description = "Arriving VMs are named this followed by -1, -2, ...", DefaultValueFactory = _ => "vm" };
        var readyFile = new Option<string?>("--ready-file") { Description = "Write the port to this file once listening (for scripts)" };
        Option<int> hostMib = StoreOptions.HostMib();
        Option<bool> json = BenchCommand.JsonOption();
        Option<string> relayTo = StoreOptions.To("Relay each QEMU migration live to the store listening there (host A of QEMU -> A -> B -> QEMU) instead of keeping it, HOST:PORT", "--relay-to", required: false);
        Option<string> resumeTo = StoreOptions.To("Resume each VM relayed here into the QEMU waiting there with -incoming tcp:HOST:PORT as soon as it arrived (kept only if that fails)", "--resume-to", required: false);
        var resumeHere = new Option<bool>("--resume-here") { Description = "Resume each VM relayed here into a guest of this process (RAM in a memfd it owns, its QEMU started as the relay begins); the guests run until the listener ends" };
        var cpus = new Option<int>("--cpus") { Description = "With --resume-here: the guests' virtual CPUs (as their source QEMU had)", DefaultValueFactory = _ => 1 }.Within(1, 16);
        var setup = new QemuCommand.GuestSetup();
        var listen = new Command("listen", "Take QEMU VMs migrated here (migrate -d tcp:HOST:PORT) and keep them, or relay them live; one line per arrival")
            { port, address, dir, resident, count, prefix, readyFile, relayTo, resumeTo, resumeHere, cpus, hostMib, json };
        setup.AddTo(listen);
        listen.Validators.Add(r =>
        {
            if (r.GetValue(resumeHere) && r.GetResult(resumeTo) is { Implicit: false }) r.AddError("--resume-to and --resume-here exclude each other: relayed VMs resume into a waiting QEMU or into guests of this process");
            if (!r.GetValue(resumeHere) && r.GetResult(cpus) is { Implicit: false }) r.AddError("--cpus goes with --resume-here");
        });
        listen.SetCancellableRun((p, cancel) =>
        {
            Func<string, long, GuestOptions>? resumeGuest = null;
            if (p.GetValue(resumeHere))
            {
                (GuestKernel kernel, GuestImage? image, string? initrd, Accelerator accelerator) = setup.Resolve(p);
                int n = p.GetValue(cpus);
                resumeGuest = (name, ram) => new GuestOptions { Name = name, RamBytes = ram, Cpus = n, Kernel = kernel, Image = image, CustomInitrd = initrd, Accelerator = accelerator };
            }
            return RunListen(p.GetValue(port), IPAddress.Parse(p.GetValue(address)!), p.GetValue(dir), p.GetValue(resident),
                p.GetValue(count), p.GetValue(prefix)!, p.GetValue(readyFile), new QemuStoreListenerOptions
                {
                    RelayTo = p.GetValue(relayTo) is string r ? StoreOptions.HostPort(r) : null,
                    ResumeTo = p.GetValue(resumeTo) is string t ? StoreOptions.HostPort(t) : null,
                    ResumeGuest = resumeGuest,
                }, p.GetValue(hostMib), p.GetValue(json), cancel);
        });
        return listen;
    }

    private static int RunListen(int port, IPAddress address, string? dir, bool resident, int count, string prefix, string? readyFile, QemuStoreListenerOptions options,
        int hostMib, bool json, CancellationToken cancel)
    {
        QemuVmStore.ValidateName(prefix + "-1");
        string? ready = readyFile == null ? null : OutputPath.CheckFile(readyFile, "ready file");
        using GlobalMemoryManager gmm = StoreOptions.Gmm(hostMib);
        using QemuVmStore store = QemuVmStore.Open(gmm, new QemuStoreOptions { Directory = dir, KeepResident = resident });
        QemuStoreListener listener = QemuStoreListener.Start(store, address, port, () => store.NextName(prefix), options);
        var guests = new List<QemuGuest>(); // relayed VMs resumed here (--resume-here): they run until the listener ends
        try
        {
            if (ready != null)
            {
                File.WriteAllText(ready + ".tmp", listener.Port.ToString(System.Globalization.CultureInfo.InvariantCulture));
                File.Move(ready + ".tmp", ready, overwrite: true);
            }
            if (!json) CliConsole.Err.Line($"listening on {address}:{listener.Port}; QEMU: migrate -d tcp:{address}:{listener.Port}; {store.List().Count} VM(s) stored{(dir != null ? $" in {dir}" : " (in memory only)")}");
            int failed = 0;
            for (int arrived = 0; count == 0 || arrived < count; arrived++)
            {
                StoreArrival a;
                try { a = listener.NextAsync(Timeout.InfiniteTimeSpan, cancel).GetAwaiter().GetResult(); }
                catch (OperationCanceledException) { break; }
                if (a.Error != null)
                {
                    failed++;
                    CliFailure failure = CliFailure.From(a.Error) ?? new CliFailure(nameof(CliError.Unexpected), a.Error.Message);
                    if (json) CliJson.WriteErr(CliJson.Error("qemu store listen", failure, new JsonObject { ["peer"] = a.Peer, ["name"] = a.Name }));
                    else CliConsole.Err.Line($"[red]{a.Peer}: nothing stored: {failure.Code}: {failure.OneLine}[/]");
                    continue;
                }
                if (a.Relayed is RelayReport relayed)
                {
                    if (json) CliJson.WriteOut(CliJson.Result("qemu store listen", JsonFields.Object([new("relayed", relayed.Name), new("peer", a.Peer), new("qemu_bytes", relayed.QemuBytes),
                        new("relay_bytes", relayed.Move.BytesSent), new("passes", relayed.Move.Passes.Count), new("final_wait_ms", relayed.FinalPassWait.TotalMilliseconds), new("target", relayed.TargetOutcome), new("seconds", a.Elapsed.TotalSeconds)])), oneLine: true);
                    else CliConsole.Out.Line($"relayed {relayed.Name} from {a.Peer} in {a.Elapsed.TotalSeconds:0.00} s: {StoreOptions.Mib(relayed.QemuBytes)} from QEMU, {StoreOptions.Mib(relayed.Move.BytesSent)} sent on in {relayed.Move.Passes.Count} passes; the target store: {relayed.TargetOutcome} {relayed.FinalPassWait.TotalMilliseconds:0} ms after QEMU's stream ended");
                    continue;
                }
                if (a.Resumed is ResumeReport resumedVm)
                {
                    if (a.Guest != null) guests.Add(a.Guest);
                    if (json) CliJson.WriteOut(CliJson.Result("qemu store listen", JsonFields.Object([new("resumed", resumedVm.Name), new("peer", a.Peer), new("bytes", resumedVm.BytesSent),
                        new("resume_seconds", resumedVm.Elapsed.TotalSeconds), new("seconds", a.Elapsed.TotalSeconds), new("guest", a.Guest?.Name), new("qemu_pid", a.Guest?.Pid)])), oneLine: true);
                    else if (a.Guest != null) CliConsole.Out.Line($"resumed {resumedVm.Name} (relayed from {a.Peer}) as guest {a.Guest.Name} (QEMU pid {a.Guest.Pid}) in {resumedVm.Elapsed.TotalSeconds:0.00} s, its main RAM written into the guest's memfd ({StoreOptions.Mib(resumedVm.BytesSent)} of stream)");
                    else CliConsole.Out.Line($"resumed {resumedVm.Name} (relayed from {a.Peer}) into its QEMU in {resumedVm.Elapsed.TotalSeconds:0.00} s ({StoreOptions.Mib(resumedVm.BytesSent)} of stream)");
                    continue;
                }
                StoredVmInfo v = a.Stored!;
                if (json) CliJson.WriteOut(CliJson.Result("qemu store listen", JsonFields.Object([.. StoreOptions.Fields(v), new("seconds", a.Elapsed.TotalSeconds), new("peer", a.Peer)])), oneLine: true);
                else CliConsole.Out.Line($"stored {v.Name} from {a.Peer} in {a.Elapsed.TotalSeconds:0.00} s: {v.Machine}, {StoreOptions.Mib(v.GuestRamBytes)} of RAM, {v.NonZeroPages:N0} non-zero pages ({v.SharedPages:N0} shared), {StoreOptions.Mib(v.FileBytes)} of files");
            }
            cancel.ThrowIfCancellationRequested();
            if (failed > 0) throw new CliException(CliError.SessionsFailed, $"{failed} arrival(s) failed (each is reported above)");
            return 0;
        }
        finally
        {
            listener.DisposeAsync().AsTask().GetAwaiter().GetResult();
            foreach (QemuGuest g in guests) g.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
    }

    private static Command List()
    {
        Option<string> dir = StoreOptions.Dir(required: true);
        Option<bool> json = BenchCommand.JsonOption();
        var list = new Command("list", "List a store folder's VMs: guest RAM, pages each alone holds, pages shared, file bytes") { dir, json };
        list.SetAction(p =>
        {
            using GlobalMemoryManager gmm = StoreOptions.Gmm(64);
            using QemuVmStore store = QemuVmStore.Open(gmm, new QemuStoreOptions { Directory = p.GetValue(dir), ReadOnly = true });
            IReadOnlyList<StoredVmInfo> vms = store.List();
            long files = vms.Sum(v => v.FileBytes);
            if (p.GetValue(json))
            {
                var items = new JsonArray([.. vms.Select(v => (JsonNode)JsonFields.Object(StoreOptions.Fields(v)))]);
                CliJson.WriteOut(CliJson.Result("qemu store list", new JsonObject { ["vms"] = vms.Count, ["file_bytes"] = files, ["guest_ram_bytes"] = vms.Sum(v => v.GuestRamBytes) }, items));
                return 0;
            }
            if (vms.Count == 0)
            {
                CliConsole.Out.Line($"No VMs are stored in {p.GetValue(dir)!}.");
                return 0;
            }
            var table = new Table().AddColumns("VM", "machine", "guest RAM", "non-zero pages", "pages it alone holds", "pages shared", "file bytes");
            foreach (StoredVmInfo v in vms)
                table.AddRow(Markup.Escape(v.Name), Markup.Escape(v.Machine), StoreOptions.Mib(v.GuestRamBytes), $"{v.NonZeroPages:N0}", $"{v.AlonePages:N0}", $"{v.SharedPages:N0}", StoreOptions.Mib(v.FileBytes));
            CliConsole.Out.Write(table);
            return 0;
        });
        return list;
    }

    private static Command Delete()
    {
        Argument<string> name = StoreOptions.Name();
        Option<string> dir = StoreOptions.Dir(required: true);
        var delete = new Command("delete", "Delete a stored VM and the page files no other VM refers to") { name, dir };
        delete.SetAction(p =>
        {
            using GlobalMemoryManager gmm = StoreOptions.Gmm(64);
            using QemuVmStore store = QemuVmStore.Open(gmm, new QemuStoreOptions { Directory = p.GetValue(dir) });
            store.Delete(p.GetValue(name)!);
            CliConsole.Out.Line($"deleted {p.GetValue(name)!}; {store.List().Count} VM(s) left");
            return 0;
        });
        return delete;
    }

    private static Command Move()
    {
        Argument<string> name = StoreOptions.Name();
        Option<string> dir = StoreOptions.Dir(required: true);
        Option<string> to = StoreOptions.To("The other store's listener (gmm qemu store listen there), HOST:PORT");
        Option<int> hostMib = StoreOptions.HostMib();
        Option<bool> json = BenchCommand.JsonOption();
        var move = new Command("move", "Move a stored VM to another store; pages whose content it holds are not sent") { name, dir, to, hostMib, json };
        move.SetAction(async (p, cancel) =>
        {
            (string host, int port) = StoreOptions.HostPort(p.GetValue(to)!);
            using GlobalMemoryManager gmm = StoreOptions.Gmm(p.GetValue(hostMib));
            using QemuVmStore store = QemuVmStore.Open(gmm, new QemuStoreOptions { Directory = p.GetValue(dir) });
            GuestMemory.Migration.MoveReport report = await store.MoveAsync(p.GetValue(name)!, host, port, cancel);
            if (p.GetValue(json))
                CliJson.WriteOut(CliJson.Result("qemu store move", JsonFields.Object([new("name", p.GetValue(name)), new("bytes_sent", report.BytesSent),
                    new("guest_bytes", report.GuestBytes), new("seconds", report.Total.TotalSeconds), new("content_references", report.ContentReferences)])));
            else CliConsole.Out.Line($"moved {p.GetValue(name)!} to {host}:{port} in {report.Total.TotalSeconds:0.00} s: {StoreOptions.Mib(report.BytesSent)} sent for {StoreOptions.Mib(report.GuestBytes)} of guest RAM");
            return 0;
        });
        return move;
    }
}
