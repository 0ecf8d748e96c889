using System.Text.Json;
using System.Text.Json.Nodes;
using ZstdSharp;
using ZstdSharp.Unsafe;

namespace GuestMemory.Qemu;

/// <summary>
/// The files of a store folder: <c>store.json</c> (the index: which VMs, which page files), one manifest
/// per VM (<c>vm-NAME.gqvm</c>: its <see cref="QemuVmState"/> and a content reference per page, zstd with
/// checksum), the page files (<see cref="PageSegment"/>) and <c>store.lock</c>, held by the one process
/// that writes the folder. Every file is written to a temporary name, flushed to disk and renamed, and
/// the index last, so a crash at any moment leaves the folder as it was before or after the change
/// (files no index names are removed when the store next opens).
/// </summary>
internal static class StoreFolder
{
    public const string IndexFile = "store.json", LockFile = "store.lock";
    private const int IndexVersion = 1;

    public static string ManifestPath(string directory, string name) => Path.Combine(directory, $"vm-{name}.gqvm");

    /// <summary>Takes the folder's writer lock (an advisory lock on <c>store.lock</c>, released when the process ends).</summary>
    /// <exception cref="QemuException"><see cref="QemuError.StoreBusy"/> when another process holds it.</exception>
    public static FileStream Lock(string directory)
    {
        try
        {
            return new FileStream(Path.Combine(directory, LockFile), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException e)
        {
            throw new QemuException(QemuError.StoreBusy, $"the store folder {directory} is in use by another process (stop its 'gmm qemu store listen' first): {e.Message}", e);
        }
    }

    public static long WriteManifest(string directory, string name, QemuVmState state, ulong[] refs, int segment)
    {
        using var raw = new MemoryStream();
        using (var w = new BinaryWriter(raw, System.Text.Encoding.UTF8, leaveOpen: true))
        {
            state.WriteTo(w);
            w.Write(segment);
            w.Write(refs.Length);
            foreach (ulong r in refs) w.Write(r);
        }
        using var compressor = new Compressor(3);
        compressor.SetParameter(ZSTD_cParameter.ZSTD_c_checksumFlag, 1);
        byte[] packed = compressor.Wrap(raw.GetBuffer().AsSpan(0, (int)raw.Length)).ToArray();
        string path = ManifestPath(directory, name);
        WriteAtomically(path, packed);
        return packed.Length;
    }

    public static (QemuVmState State, ulong[] Refs, int Segment, long Bytes) ReadManifest(string directory, string name)
    {
        string path = ManifestPath(directory, name);
        byte[] packed;
        try { packed = File.ReadAllBytes(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new QemuException(QemuError.StoreCorrupt, $"the manifest of {name} ({path}) cannot be read: {e.Message}", e);
        }
        byte[] raw;
        try
        {
            using var decompressor = new Decompressor();
            raw = decompressor.Unwrap(packed).ToArray();
        }
        catch (ZstdException e)
        {
            throw new QemuException(QemuError.StoreCorrupt, $"the manifest {path} is damaged: {e.Message}", e);
        }
        using var r = new BinaryReader(new MemoryStream(raw));
        QemuVmState state = QemuVmState.ReadFrom(r, path);
        try
        {
            int segment = r.ReadInt32();
            int count = r.ReadInt32();
            if (count != state.RamBytes / QemuStreamFormat.PageSize) throw new QemuException(QemuError.StoreCorrupt, $"{path}: {count} page references for {state.RamBytes} bytes of RAM");
            var refs = new ulong[count];
            for (int i = 0; i < count; i++) refs[i] = r.ReadUInt64();
            return (state, refs, segment, packed.Length);
        }
        catch (EndOfStreamException e)
        {
            throw new QemuException(QemuError.StoreCorrupt, $"{path} is cut short", e);
        }
    }

    /// <summary>The index: the stored VMs' names (with the page file each brought) and the next page file's number.</summary>
    public sealed record Index(IReadOnlyList<string> Names, int NextSegment);

    public static Index ReadIndex(string directory)
    {
        string path = Path.Combine(directory, IndexFile);
        if (!File.Exists(path)) return new Index([], 0);
        try
        {
            JsonNode root = JsonNode.Parse(File.ReadAllText(path)) ?? throw new JsonException("empty");
            int version = root["version"]!.GetValue<int>();
            if (version != IndexVersion) throw new QemuException(QemuError.StoreCorrupt, $"{path} is of version {version}, not {IndexVersion}");
            var names = root["vms"]!.AsArray().Select(n => n!.GetValue<string>()).ToList();
            foreach (string name in names) QemuVmStore.ValidateName(name);
            return new Index(names, root["nextSegment"]!.GetValue<int>());
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or NullReferenceException or IOException or FormatException
                                   or QemuException { Error: QemuError.InvalidArgument })
        {
            throw new QemuException(QemuError.StoreCorrupt, $"the store index {path} is damaged: {e.Message}", e);
        }
    }

    public static void WriteIndex(string directory, Index index)
    {
        var root = new JsonObject
        {
            ["version"] = IndexVersion,
            ["nextSegment"] = index.NextSegment,
            ["vms"] = new JsonArray(index.Names.Select(n => (JsonNode)JsonValue.Create(n)!).ToArray()),
        };
        WriteAtomically(Path.Combine(directory, IndexFile), System.Text.Encoding.UTF8.GetBytes(root.ToJsonString(new JsonSerializerOptions { WriteIndented = true })));
    }

    /// <summary>Removes files of the store's kinds that the index does not name (left by a crash between writing them and the index).</summary>
    public static void RemoveStrays(string directory, IEnumerable<string> names, IEnumerable<int> segments)
    {
        var keep = new HashSet<string>(names.Select(n => Path.GetFileName(ManifestPath(directory, n))).Concat(segments.Select(PageSegment.FileName)), StringComparer.Ordinal);
        foreach (string file in Directory.EnumerateFiles(directory))
        {
            string f = Path.GetFileName(file);
            bool ours = (f.StartsWith("vm-", StringComparison.Ordinal) && (f.EndsWith(".gqvm", StringComparison.Ordinal) || f.EndsWith(".gqvm.tmp", StringComparison.Ordinal)))
                        || (f.StartsWith("seg-", StringComparison.Ordinal) && (f.EndsWith(".gqp", StringComparison.Ordinal) || f.EndsWith(".gqp.tmp", StringComparison.Ordinal)))
                        || f == IndexFile + ".tmp";
            if (ours && !keep.Contains(f)) File.Delete(file);
        }
    }

    /// <summary>Bytes of the store's files in the folder now.</summary>
    public static long FolderBytes(string directory) =>
        Directory.EnumerateFiles(directory).Where(f => !f.EndsWith(LockFile, StringComparison.Ordinal)).Sum(f => new FileInfo(f).Length);

    private static void WriteAtomically(string path, ReadOnlySpan<byte> bytes)
    {
        string temp = path + ".tmp";
        using (var file = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            file.Write(bytes);
            file.Flush(flushToDisk: true);
        }
        File.Move(temp, path, overwrite: true);
    }
}
