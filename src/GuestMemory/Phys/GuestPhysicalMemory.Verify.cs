using GuestMemory.Gmm;

namespace GuestMemory.Phys;

public sealed unsafe partial class GuestPhysicalMemory
{
    /// <summary>
    /// Recounts this VM's entries and checks them against the Gmm: every private page is this VM's,
    /// in the base account, backing the right guest frame; every host page is used once; the VM's
    /// private and shared counts in the Gmm equal entries + handy pages + pages waiting for readers
    /// + references held by mappings. Appends each mismatch to <paramref name="problems"/>.
    /// </summary>
    internal void CheckAgainst(PageManager gmm, List<string> problems)
    {
        using (_lock.Enter())
        {
            if (_destroyed) return;
            var counts = new long[_stateCounts.Length];
            var privatePages = new HashSet<PageId>();
            var sharedRefs = new Dictionary<PageId, int>();
            var unreported = _handy.Unreported.ToDictionary(kv => kv.Key, kv => kv.Value);
            string who = $"{Vm}";

            foreach (MemoryRange range in _ranges)
            {
                if (range.Type == GuestPageType.Mmio) continue;
                for (int i = 0; i < range.Entries.Length; i++)
                {
                    ulong e = range.Entries[i];
                    GuestPageState state = GuestPage.State(e);
                    counts[(int)state]++;
                    ulong address = range.Start + ((ulong)i << Paging.PageShift);
                    if (GuestPage.Type(e) != range.Type) problems.Add($"{who} page {address:x} has type {GuestPage.Type(e)} inside {range}");
                    if (range.Type == GuestPageType.Rom && state != GuestPageState.Allocated) problems.Add($"{who} ROM page {address:x} is {state}");
                    if (!GuestPage.HasHostPage(e))
                    {
                        if (!GuestPage.Page(e).IsNil) problems.Add($"{who} page {address:x} is {state} but names {GuestPage.Page(e)}");
                        if (GuestPage.IsLocked(e)) problems.Add($"{who} page {address:x} is {state} but mapped");
                        continue;
                    }
                    PageId page = GuestPage.Page(e);
                    HostPageInfo info;
                    try { info = gmm.InspectPage(page); }
                    catch (GmmException) { problems.Add($"{who} page {address:x} names {page}, which is not live"); continue; }
                    if (state == GuestPageState.Shared)
                    {
                        if (info.State != HostPageState.Shared) problems.Add($"{who} page {address:x} is Shared but {page} is {info.State}");
                        sharedRefs[page] = sharedRefs.GetValueOrDefault(page) + 1;
                        continue;
                    }
                    if (info.State != HostPageState.Private || info.Owner != Vm || info.Account != GmmAccount.Base)
                        problems.Add($"{who} page {address:x} uses {page}, which is {info.State} of {info.Owner} ({info.Account})");
                    ulong frame = GuestFrame(range, i);
                    if (info.GuestFrame != frame && !(info.GuestFrame == PageDescriptor.NoGuestFrame && unreported.GetValueOrDefault(page) == frame))
                        problems.Add($"{who} page {address:x} uses {page}, which the Gmm records for frame {info.GuestFrame:x}");
                    if (!privatePages.Add(page)) problems.Add($"{who} {page} backs two guest pages");
                }
            }
            for (int s = 0; s < counts.Length; s++)
                if (counts[s] != _stateCounts[s]) problems.Add($"{who} counts {_stateCounts[s]} {(GuestPageState)s} pages, entries say {counts[s]}");

            foreach (PageDescriptor d in _handy.AtHand)
                if (!privatePages.Add(d.Page)) problems.Add($"{who} handy {d.Page} is also in use");
            foreach ((uint page, int count) in _mappingReferences)
                sharedRefs[new PageId(page)] = sharedRefs.GetValueOrDefault(new PageId(page)) + count;
            foreach (PageId page in _deferred.PagesOf(Vm))
            {
                HostPageInfo info = gmm.InspectPage(page);
                if (info.State == HostPageState.Shared) sharedRefs[page] = sharedRefs.GetValueOrDefault(page) + 1;
                else if (!privatePages.Add(page)) problems.Add($"{who} retired {page} is still in use");
            }

            GmmVmStatistics accounts = gmm.GetVmStatistics(Vm);
            if (accounts.BalloonedPages != counts[(int)GuestPageState.Ballooned])
                problems.Add($"{who} the Gmm counts {accounts.BalloonedPages} ballooned pages, memory holds {counts[(int)GuestPageState.Ballooned]}");
            if (accounts.Allocated.Base - accounts.SharedPages != privatePages.Count)
                problems.Add($"{who} the Gmm counts {accounts.Allocated.Base - accounts.SharedPages} private base pages, memory holds {privatePages.Count}");
            IReadOnlyDictionary<PageId, int> gmmRefs = gmm.GetSharedReferences(Vm);
            foreach (PageId page in gmmRefs.Keys.Union(sharedRefs.Keys))
                if (gmmRefs.GetValueOrDefault(page) != sharedRefs.GetValueOrDefault(page))
                    problems.Add($"{who} holds {sharedRefs.GetValueOrDefault(page)} references to {page}, the Gmm counts {gmmRefs.GetValueOrDefault(page)}");
        }
    }
}
