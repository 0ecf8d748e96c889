namespace GuestMemory.Gmm;

public sealed partial class PageManager
{
    /// <summary>Recounts everything and throws <see cref="GmmError.ConsistencyCheckFailed"/> listing each mismatch.</summary>
    public void Verify()
    {
        IReadOnlyList<string> problems = FindInconsistencies();
        if (problems.Count > 0)
            throw new GmmException(GmmError.ConsistencyCheckFailed, string.Join(Environment.NewLine, problems));
    }

    /// <summary>
    /// Recounts every chunk, page, free list, free set and account from the state words and returns
    /// each mismatch (empty when consistent). Reads under the lock; costs one pass over all page words.
    /// </summary>
    public IReadOnlyList<string> FindInconsistencies()
    {
        using (_lock.EnterScope())
        {
            var problems = new List<string>();
            var privateByVm = new Dictionary<(ushort, GmmAccount), long>();
            var framesByVm = new Dictionary<ushort, HashSet<ulong>>();
            var sharedRefs = new Dictionary<uint, long>();
            long privatePages = 0, sharedPages = 0, sharedReferences = 0;
            var spares = new HashSet<Chunk>(_spareChunks);

            if (_chunks.Count != Host.CommittedChunks)
                problems.Add($"{_chunks.Count} live chunks but the host has {Host.CommittedChunks} committed");
            foreach (Chunk chunk in _chunks.All())
            {
                if (!_chunks.IsReserved(chunk.Id)) problems.Add($"chunk {chunk.Id} is live but its id is not reserved");
                int free = 0, priv = 0, shared = 0, discarded = 0;
                for (int i = 0; i < Paging.PagesPerChunk; i++)
                {
                    ulong word = chunk.Pages[i];
                    switch (PageWord.State(word))
                    {
                        case HostPageState.Free:
                            free++;
                            if (PageWord.IsDiscarded(word)) discarded++;
                            break;
                        case HostPageState.Private:
                            priv++;
                            ushort vm = PageWord.Vm(word);
                            if (PageWord.IsMarked(word)) problems.Add($"{PageId.From(chunk.Id, i)} carries a stale free mark");
                            if (vm >= _vms.Length || _vms[vm] == null) { problems.Add($"{PageId.From(chunk.Id, i)} is private to unknown vm:{vm}"); break; }
                            var key = (vm, PageWord.Account(word));
                            privateByVm[key] = privateByVm.GetValueOrDefault(key) + 1;
                            ulong frame = PageWord.GuestFrame(word);
                            if (frame != PageWord.NilGuestFrame && !(framesByVm.TryGetValue(vm, out var frames) ? frames : framesByVm[vm] = []).Add(frame))
                                problems.Add($"vm:{vm} guest frame {frame:x} is backed by two private pages");
                            break;
                        case HostPageState.Shared:
                            shared++;
                            uint refs = PageWord.References(word);
                            if (refs == 0) problems.Add($"shared {PageId.From(chunk.Id, i)} has no reference");
                            sharedRefs[PageId.From(chunk.Id, i).Value] = refs;
                            sharedReferences += refs;
                            break;
                        default: problems.Add($"{PageId.From(chunk.Id, i)} has an unknown state word {word:x16}"); break;
                    }
                }
                privatePages += priv;
                sharedPages += shared;
                if (free != chunk.FreeCount || priv != chunk.PrivateCount || shared != chunk.SharedCount)
                    problems.Add($"chunk {chunk.Id} counts free/private/shared {chunk.FreeCount}/{chunk.PrivateCount}/{chunk.SharedCount}, words say {free}/{priv}/{shared}");
                if (discarded != chunk.DiscardedCount) problems.Add($"chunk {chunk.Id} counts {chunk.DiscardedCount} discarded pages, words say {discarded}");
                CheckFreeList(chunk, free, problems);
                if (spares.Contains(chunk))
                {
                    if (!chunk.IsEmpty || chunk.Set != null) problems.Add($"spare chunk {chunk.Id} is not empty or sits in a set");
                }
                else if (chunk.Set == null) problems.Add($"chunk {chunk.Id} is neither spare nor in a free set");
                else if (chunk.IsEmpty) problems.Add($"empty chunk {chunk.Id} was neither kept as spare nor released");
                else if (chunk.Bin != (chunk.Evacuating ? -1 : FreeSet.BinOf(chunk.FreeCount))) problems.Add($"chunk {chunk.Id} sits in bin {chunk.Bin} with {chunk.FreeCount} free pages");
            }

            if (privatePages != _privatePages) problems.Add($"global private pages {_privatePages}, recounted {privatePages}");
            if (sharedPages != _sharedPages) problems.Add($"global shared pages {_sharedPages}, recounted {sharedPages}");
            if (sharedReferences != _sharedReferences) problems.Add($"global shared references {_sharedReferences}, recounted {sharedReferences}");
            CheckSets(problems);
            CheckVms(privateByVm, sharedRefs, problems);
            foreach ((uint page, long left) in sharedRefs)
                if (left != 0) problems.Add($"shared {new PageId(page)} has {left} references no VM accounts for");
            return problems;
        }
    }

    private static void CheckFreeList(Chunk chunk, int free, List<string> problems)
    {
        int walked = 0;
        for (int i = chunk.FreeHead; i != PageWord.NilIndex; i = PageWord.NextFree(chunk.Pages[i]))
        {
            if (i >= Paging.PagesPerChunk || PageWord.State(chunk.Pages[i]) != HostPageState.Free || ++walked > free)
            {
                problems.Add($"chunk {chunk.Id} free list is broken at index {i}");
                return;
            }
        }
        if (walked != free) problems.Add($"chunk {chunk.Id} free list holds {walked} pages, {free} are free");
    }

    private void CheckSets(List<string> problems)
    {
        foreach (FreeSet set in AllSets())
        {
            long free = 0;
            int chunks = 0;
            foreach (Chunk chunk in _chunks.All())
            {
                if (chunk.Set != set) continue;
                chunks++;
                if (!chunk.Evacuating) free += chunk.FreeCount;
            }
            if (chunks != set.Chunks || free != set.FreePages)
                problems.Add($"free set '{set.Name}' counts {set.Chunks} chunks / {set.FreePages} free pages, recounted {chunks} / {free}");
            foreach (Chunk chunk in set.ChunksWithFreePages())
                if (chunk.Set != set) problems.Add($"chunk {chunk.Id} is linked in '{set.Name}' but belongs to '{chunk.Set?.Name}'");
        }
    }

    private void CheckVms(Dictionary<(ushort, GmmAccount), long> privateByVm, Dictionary<uint, long> sharedRefs, List<string> problems)
    {
        long reserved = 0, ballooned = 0, noOvercommit = 0;
        foreach (GmmVm? vm in _vms)
        {
            if (vm == null) continue;
            reserved += vm.ReservedPages.Total;
            if (vm.Policy == OvercommitPolicy.NoOvercommit) noOvercommit += vm.ReservedPages.Total;
            ballooned += vm.Ballooned;
            foreach (GmmAccount account in Enum.GetValues<GmmAccount>())
            {
                long counted = privateByVm.GetValueOrDefault((vm.Handle.Value, account));
                if (counted != vm.Private[(int)account])
                    problems.Add($"{vm.Handle} {account}: {vm.Private[(int)account]} private pages accounted, {counted} found");
            }
            long refs = 0;
            foreach ((uint page, int count) in vm.SharedRefs)
            {
                refs += count;
                if (count <= 0) problems.Add($"{vm.Handle} keeps a non-positive count for {new PageId(page)}");
                if (!sharedRefs.ContainsKey(page)) problems.Add($"{vm.Handle} references {new PageId(page)}, which is not shared");
                else sharedRefs[page] -= count;
            }
            if (refs != vm.SharedReferences) problems.Add($"{vm.Handle} counts {vm.SharedReferences} shared references, its map holds {refs}");
            if (vm.Ballooned < 0) problems.Add($"{vm.Handle} has a negative balloon");
        }
        if (reserved != _reservedPages) problems.Add($"global reserved pages {_reservedPages}, recounted {reserved}");
        if (noOvercommit != _noOvercommitReserved) problems.Add($"no-over-commit reservations {_noOvercommitReserved}, recounted {noOvercommit}");
        if (ballooned != _ballooned) problems.Add($"global ballooned pages {_ballooned}, recounted {ballooned}");
    }
}
