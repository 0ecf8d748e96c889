using System.CommandLine;
using GuestMemory.Gmm;
using GuestMemory.Host;
using Spectre.Console;

namespace GuestMemory.Cli.Commands;

/// <summary><c>gmm demo</c>: a small over-commit scenario on real host memory, with a summary.</summary>
internal static class DemoCommand
{
    public static Command Create()
    {
        var vms = new Option<int>("--vms") { Description = "Number of VMs", DefaultValueFactory = _ => 3 };
        var ram = new Option<int>("--ram-mib") { Description = "Guest RAM per VM, MiB", DefaultValueFactory = _ => 64 };
        var seed = new Option<int>("--seed") { Description = "Random seed", DefaultValueFactory = _ => 1 };
        vms.Validators.Add(r => { if (r.GetValueOrDefault<int>() is < 1 or > 64) r.AddError("--vms must be 1..64"); });
        ram.Validators.Add(r => { if (r.GetValueOrDefault<int>() is < 4 or > 4096) r.AddError("--ram-mib must be 4..4096"); });
        var demo = new Command("demo", "Run a small over-commit scenario on real host memory and print what it saved") { vms, ram, seed };
        demo.SetAction(p => Run(p.GetValue(vms), p.GetValue(ram), p.GetValue(seed)));
        return demo;
    }

    private static int Run(int vmCount, int ramMib, int seed)
    {
        long pagesPerVm = (long)ramMib << 20 >> Paging.PageShift;
        long hostLimit = Math.Max(vmCount * (long)ramMib << 20, 64L << 20);
        long rssStart = HostRss.ReadBytes();
        using var gmm = new PageManager(new GmmOptions { HostMemoryLimit = hostLimit, OvercommitRatio = 2 });
        var random = new Random(seed);
        var handles = new List<VmHandle>();
        var pages = new List<PageDescriptor[]>();
        for (int i = 0; i < vmCount; i++)
        {
            VmHandle vm = gmm.RegisterVm($"vm-{i}", new AccountPages(pagesPerVm, 0, 0));
            // Each guest touches a random 50-90% of its RAM.
            var mine = new PageDescriptor[(int)(pagesPerVm * random.Next(50, 90) / 100)];
            for (int p = 0; p < mine.Length; p++) mine[p].GuestFrame = (ulong)p;
            gmm.AllocatePages(vm, GmmAccount.Base, mine, zero: true);
            foreach (PageDescriptor d in mine) gmm.Host.PageSpan(d.Page)[0] = (byte)(i + 1);
            handles.Add(vm);
            pages.Add(mine);
        }
        long rssFull = HostRss.ReadBytes();
        // Half of the first VM's pages are identical OS image pages: share them.
        PageId shared = gmm.AllocateSharedPage(handles[0], checksum: 0);
        gmm.Host.PageSpan(shared).Fill(0xAB);
        var duplicates = pages[0].Take(pages[0].Length / 2).Select(d => d.Page).ToArray();
        for (int i = 1; i < duplicates.Length; i++) gmm.AddSharedReference(handles[0], shared);
        gmm.FreePages(handles[0], GmmAccount.Base, duplicates);
        // The last VM shuts down: its chunks go back to the host.
        gmm.DestroyVm(handles[^1]);
        long rssEnd = HostRss.ReadBytes();
        gmm.Verify();

        GmmStatistics s = gmm.GetStatistics();
        var table = new Table().Title("GuestMemory demo (Gmm layer)").AddColumns("figure", "value");
        table.AddRow("VMs started / running", $"{vmCount} / {s.Vms}");
        table.AddRow("guest RAM promised", Mib(vmCount * pagesPerVm));
        table.AddRow("host pages in use", $"{Mib(s.AllocatedPages)} ({s.PrivatePages} private, {s.SharedPages} shared)");
        table.AddRow("guest pages that cost no host page (sharing)", $"{s.DuplicatePages:N0}");
        table.AddRow("chunks committed / given back", $"{s.Chunks} / {s.FreedChunks}");
        table.AddRow("process RSS: start -> all touched -> end", $"{rssStart >> 20} -> {rssFull >> 20} -> {rssEnd >> 20} MiB");
        table.AddRow("consistency check", "[green]clean[/]");
        AnsiConsole.Write(table);
        return 0;
    }

    private static string Mib(long pages) => $"{pages * Paging.PageSize >> 20:N0} MiB";
}
