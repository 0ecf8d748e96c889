namespace GuestMemory.Qemu;

public sealed partial class QemuVmStore
{
    private const int ReadPages = 64;

    /// <summary>
    /// Writes a received VM to the folder: each non-zero page's content is looked up by its key; contents the
    /// store has are referred to, new ones go into one new page file (each once, however many pages have
    /// it), compressed against the base page file of the VM's shared contents (<see cref="BaseFor"/>); then
    /// the manifest and the index. Holds <c>_disk</c>. On failure nothing the index names has changed and
    /// the new files are removed.
    /// </summary>
    private StoredVm Persist(string name, QemuVmState state, VirtualMachine vm)
    {
        string folder = Folder!;
        var refs = new ulong[state.RamBytes / QemuStreamFormat.PageSize];
        var newKeys = new List<PageKey>();
        var newAddresses = new List<ulong>();
        var fresh = new Dictionary<PageKey, int>();
        byte[] buffer = new byte[ReadPages * QemuStreamFormat.PageSize];
        int segment = _nextSegment;
        for (long first = 0; first < refs.Length; first += ReadPages)
        {
            int count = (int)Math.Min(ReadPages, refs.Length - first);
            ulong address = (ulong)first * QemuStreamFormat.PageSize;
            vm.Memory.Read(address, buffer.AsSpan(0, count * QemuStreamFormat.PageSize));
            for (int i = 0; i < count; i++)
            {
                ReadOnlySpan<byte> page = buffer.AsSpan(i * QemuStreamFormat.PageSize, QemuStreamFormat.PageSize);
                if (!page.ContainsAnyExcept((byte)0)) continue;
                PageKey key = PageKey.Of(page);
                if (_keys.TryGetValue(key, out ulong known)) refs[first + i] = known;
                else if (fresh.TryGetValue(key, out int index)) refs[first + i] = PageRefs.Make(segment, index);
                else
                {
                    fresh[key] = newKeys.Count;
                    refs[first + i] = PageRefs.Make(segment, newKeys.Count);
                    newKeys.Add(key);
                    newAddresses.Add(address + (ulong)i * QemuStreamFormat.PageSize);
                }
            }
        }
        PageSegment? written = null;
        try
        {
            if (newKeys.Count > 0)
            {
                PageSegment? baseSegment = BaseFor(refs, segment);
                using FrameDictionary? dictionary = baseSegment == null ? null : ReadDictionary(baseSegment, Math.Min(baseSegment.Keys.Length, PageSegment.DictionaryPages));
                written = PageSegment.Write(folder, segment, newKeys, (i, destination) => vm.Memory.Read(newAddresses[i], destination), baseSegment, dictionary);
            }
            long manifestBytes = StoredFolderWrite(name, state, refs, written);
            if (written != null)
            {
                lock (_lock) _segments[segment] = written;
                for (int i = 0; i < newKeys.Count; i++) _keys[newKeys[i]] = PageRefs.Make(segment, i);
                _nextSegment = segment + 1;
            }
            return new StoredVm(name, state, refs, null, written?.Number ?? -1, manifestBytes);
        }
        catch
        {
            TryDelete(Path.Combine(folder, PageSegment.FileName(segment)));
            TryDelete(StoreFolder.ManifestPath(folder, name));
            throw;
        }
    }

    /// <summary>
    /// The base of a new page file: the page file without a base of its own that holds, itself or as the
    /// base of the file that does, most of the contents the VM shares with the store (the guest most like
    /// it); null when it shares none.
    /// </summary>
    private PageSegment? BaseFor(ulong[] refs, int segment)
    {
        var hits = new Dictionary<int, int>(); // by page file, then by root
        foreach (ulong r in refs)
            if (r != 0 && PageRefs.Segment(r) != segment) hits[PageRefs.Segment(r)] = hits.GetValueOrDefault(PageRefs.Segment(r)) + 1;
        var roots = new Dictionary<int, int>();
        foreach ((int number, int count) in hits)
        {
            PageSegment holder = SegmentByNumber(number);
            int root = holder.Base >= 0 ? holder.Base : holder.Number;
            roots[root] = roots.GetValueOrDefault(root) + count;
        }
        return roots.Count == 0 ? null : SegmentByNumber(roots.MaxBy(h => (h.Value, -h.Key)).Key);
    }

    /// <summary>The manifest, then the index naming it with the VMs already stored.</summary>
    private long StoredFolderWrite(string name, QemuVmState state, ulong[] refs, PageSegment? written)
    {
        long bytes = StoreFolder.WriteManifest(Folder!, name, state, refs, written?.Number ?? -1);
        List<string> names;
        lock (_lock) names = [.. _vms.Keys, name];
        StoreFolder.WriteIndex(Folder!, new StoreFolder.Index(names, written != null ? written.Number + 1 : _nextSegment));
        return bytes;
    }

    /// <summary>Loads the folder at open: the index, every manifest, the page files they refer to (their keys); resident VMs are filled again.</summary>
    private void Load()
    {
        string folder = Folder!;
        StoreFolder.Index index = StoreFolder.ReadIndex(folder);
        _nextSegment = index.NextSegment;
        var loaded = new List<StoredVm>();
        foreach (string name in index.Names)
        {
            (QemuVmState state, ulong[] refs, int segment, long bytes) = StoreFolder.ReadManifest(folder, name);
            foreach (ulong r in refs)
                if (r != 0 && !_segments.ContainsKey(PageRefs.Segment(r))) OpenSegment(PageRefs.Segment(r));
            foreach (ulong r in refs)
                if (r != 0 && PageRefs.Index(r) >= _segments[PageRefs.Segment(r)].Keys.Length)
                    throw new QemuException(QemuError.StoreCorrupt, $"the manifest of {name} refers to page {PageRefs.Index(r)} of page file {PageRefs.Segment(r)}, which has fewer");
            loaded.Add(new StoredVm(name, state, refs, null, segment, bytes));
        }
        if (!Options.ReadOnly) StoreFolder.RemoveStrays(folder, index.Names, _segments.Keys);
        foreach (StoredVm vm in loaded)
        {
            if (Resident) vm.Vm = Fill(vm);
            _vms[vm.Name] = vm;
        }
    }

    private void OpenSegment(int number)
    {
        if (number < 0 || number >= _nextSegment) throw new QemuException(QemuError.StoreCorrupt, $"a manifest refers to page file {number}, beyond the index's {_nextSegment}");
        PageSegment segment = PageSegment.Open(Folder!, number);
        if (segment.Base >= 0)
        {
            if (!_segments.ContainsKey(segment.Base)) OpenSegment(segment.Base);
            segment.CheckBase(_segments[segment.Base]);
        }
        lock (_lock) _segments[number] = segment;
        for (int i = 0; i < segment.Keys.Length; i++) _keys.TryAdd(segment.Keys[i], PageRefs.Make(number, i));
    }

    /// <summary>Makes a GuestMemory VM of a stored VM from its files (for a resident store, a move).</summary>
    private VirtualMachine Fill(StoredVm stored)
    {
        VirtualMachine vm = CreateVm(stored.Name, stored.State);
        try
        {
            using var feed = new FrameFeed(stored.Refs!, SegmentByNumber);
            feed.ForEachPage((page, data) => vm.Memory.Write((ulong)page * QemuStreamFormat.PageSize, data));
            return vm;
        }
        catch
        {
            vm.Dispose();
            throw;
        }
    }

    /// <summary>The dictionary of a page file based on <paramref name="baseSegment"/>: its first <paramref name="pages"/> pages.</summary>
    private FrameDictionary ReadDictionary(PageSegment baseSegment, int pages)
    {
        var dictionary = new FrameDictionary(pages);
        try
        {
            ulong[] refs = new ulong[pages];
            for (int i = 0; i < pages; i++) refs[i] = PageRefs.Make(baseSegment.Number, i);
            using var feed = new FrameFeed(refs, SegmentByNumber);
            feed.ForEachPage((page, data) => data.CopyTo(dictionary.Page(page)));
            return dictionary;
        }
        catch
        {
            dictionary.Dispose();
            throw;
        }
    }

    private PageSegment SegmentByNumber(int number)
    {
        lock (_lock)
            return _segments.TryGetValue(number, out PageSegment? s) ? s
                : throw new QemuException(QemuError.StoreCorrupt, $"page file {number} is not in the store");
    }

    /// <summary>Creates the GuestMemory VM of a QEMU state: block 0 at 0 as its RAM, each further block a RAM range right after.</summary>
    private VirtualMachine CreateVm(string name, QemuVmState state)
    {
        VirtualMachine vm = Gmm.CreateVm(VmOptionsFor(name, state.Blocks));
        try
        {
            for (int i = 1; i < state.Blocks.Count; i++) vm.Memory.RegisterRam(state.BlockAddress(i), (ulong)state.Blocks[i].Length, state.Blocks[i].Id);
            return vm;
        }
        catch
        {
            vm.Dispose();
            throw;
        }
    }

    private VmOptions VmOptionsFor(string name, IReadOnlyList<RamBlock> blocks) =>
        new() { Name = "qemu-store/" + name, RamSize = blocks[0].Length, SharingDomain = Options.SharingDomain };

    /// <summary>Removes a deleted VM's manifest, rewrites the index, and removes the page files no remaining VM refers to and no remaining page file has as its base (and their keys). Holds <c>_disk</c>.</summary>
    private void RemoveFiles(StoredVm removed)
    {
        string folder = Folder!;
        StoredVm[] rest;
        lock (_lock) rest = [.. _vms.Values];
        StoreFolder.WriteIndex(folder, new StoreFolder.Index([.. rest.Select(v => v.Name)], _nextSegment));
        TryDelete(StoreFolder.ManifestPath(folder, removed.Name));
        var used = new HashSet<int>();
        foreach (StoredVm vm in rest)
            foreach (ulong r in vm.Refs!)
                if (r != 0) used.Add(PageRefs.Segment(r));
        foreach (int number in used.ToArray())
            if (SegmentByNumber(number) is { Base: >= 0 } based) used.Add(based.Base);
        int[] unused;
        lock (_lock) unused = [.. _segments.Keys.Where(s => !used.Contains(s))];
        foreach (int number in unused)
        {
            PageSegment segment;
            lock (_lock)
            {
                segment = _segments[number];
                _segments.Remove(number);
            }
            foreach (PageKey key in segment.Keys) _keys.Remove(key);
            TryDelete(segment.Path);
        }
    }

    private static void TryDelete(string path)
    {
        try { File.Delete(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { /* removed as a stray when the store next opens */ }
    }
}
