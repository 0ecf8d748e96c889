using System.CommandLine;
using System.Diagnostics;
using GuestMemory.Qemu;
using Spectre.Console;

namespace GuestMemory.Cli.Commands.Qemu;

/// <summary>
/// <c>gmm qemu dump NAME FILE</c>: saves the RAM of a guest another gmm runs (<c>gmm qemu run</c>) as a raw
/// dump that <c>gmm analyze</c> reads. The guest is found through its record in the run folders; its RAM
/// is read from the owner's memfd (<c>/proc/OWNER/fd/N</c>, with pread: the untouched RAM stays
/// unallocated, where QMP <c>pmemsave</c> would allocate all of it) while the guest is paused through its
/// second QMP socket, and resumed afterwards (unless it was paused already, or with <c>--live</c>).
/// </summary>
internal static class QemuDumpCommand
{
    public static Command Create()
    {
        var name = new Argument<string>("NAME") { Description = "The guest's name (see gmm qemu list)" };
        var file = new Argument<string>("FILE") { Description = "Where to write the raw dump (byte N is guest RAM address N)" };
        var owner = new Option<int?>("--owner") { Description = "The pid of the gmm that runs the guest, when several run one of that name" };
        var live = new Option<bool>("--live") { Description = "Do not pause the guest: faster, but pages may change while they are copied" };
        var dump = new Command("dump", "Save a running guest's RAM as a raw dump that gmm analyze reads") { name, file, owner, live };
        dump.SetAction((p, cancel) => RunAsync(p.GetValue(name)!, p.GetValue(file)!, p.GetValue(owner), p.GetValue(live), cancel));
        return dump;
    }

    /// <summary>The one running guest called <paramref name="name"/> (of <paramref name="owner"/> when given).</summary>
    internal static GuestRecord Find(string name, int? owner)
    {
        GuestRecord[] found = RunDirectory.FindGuests(name).Where(r => owner == null || r.OwnerPid == owner).ToArray();
        return found.Length switch
        {
            0 => throw new QemuException(QemuError.GuestNotFound, $"no running guest named '{name}'{(owner != null ? $" in gmm {owner}" : "")} (gmm qemu list shows them)"),
            1 => found[0],
            _ => throw new QemuException(QemuError.InvalidArgument, $"{found.Length} running guests are named '{name}' (in gmm {string.Join(", ", found.Select(f => f.OwnerPid))}): pass --owner PID"),
        };
    }

    private static async Task<int> RunAsync(string name, string file, int? owner, bool live, CancellationToken cancel)
    {
        GuestRecord record = Find(name, owner);
        string path = record.RamPath ?? throw new QemuException(QemuError.InvalidArgument, $"guest {name} has anonymous RAM that only its QEMU holds");
        string target = Path.GetFullPath(file), temporary = target + ".tmp-" + Environment.ProcessId;
        var clock = Stopwatch.StartNew();
        using GuestRam ram = GuestRam.Open(path, name);
        QmpClient? qmp = live ? null : await QmpClient.ConnectAsync(record.MonitorSocket, TimeSpan.FromSeconds(30), cancel);
        bool resume = false;
        try
        {
            if (qmp != null && (await qmp.QueryStatusAsync(cancel)).Running)
            {
                await qmp.StopAsync(cancel);
                resume = true;
            }
            await using (var output = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
                ram.CopyTo(output, cancel);
            File.Move(temporary, target, overwrite: true);
        }
        finally
        {
            File.Delete(temporary);
            if (qmp != null)
            {
                if (resume) await qmp.ContAsync(CancellationToken.None);
                await qmp.DisposeAsync();
            }
        }
        AnsiConsole.MarkupLineInterpolated($"Wrote {ram.Size >> 20} MiB of guest {name}'s RAM to {target} in {clock.Elapsed.TotalSeconds:0.00} s ({(live ? "live" : "paused")}); gmm analyze reads it.");
        return 0;
    }
}
