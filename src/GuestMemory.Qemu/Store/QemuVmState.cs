using System.Text;

namespace GuestMemory.Qemu;

/// <summary>A device's <c>SECTION_FULL</c> as QEMU sent it: opaque bytes, resent as they came.</summary>
/// <param name="Id">The device's section name (<c>cpu</c>, <c>0000:00:01.3/piix4_pm</c>...).</param>
/// <param name="Instance">Its instance id.</param>
/// <param name="Raw">The whole section, type byte to footer.</param>
public sealed record DeviceSection(string Id, uint Instance, byte[] Raw);

/// <summary>
/// Everything of a QEMU VM that is not its RAM's content: the machine type (the configuration section as
/// sent), the <c>ram</c> section's header, the RAM blocks, the devices' sections in stream order and the
/// description. With the pages it is all a target QEMU needs to resume the guest.
/// </summary>
public sealed record QemuVmState
{
    /// <summary>QEMU's machine type (<c>pc-i440fx-7.2</c>); a target of another type refuses the VM.</summary>
    public required string Machine { get; init; }
    /// <summary>The configuration section after its type byte, as sent (empty when the stream had none).</summary>
    public required byte[] Configuration { get; init; }
    /// <summary>The <c>ram</c> section's header.</summary>
    public required RamSectionHeader Ram { get; init; }
    /// <summary>The RAM blocks in stream order; block i lives at <see cref="BlockAddress"/>(i) in the GuestMemory VM.</summary>
    public required IReadOnlyList<RamBlock> Blocks { get; init; }
    /// <summary>The devices' sections in stream order.</summary>
    public required IReadOnlyList<DeviceSection> Devices { get; init; }
    /// <summary>The devices' JSON description (may be empty).</summary>
    public required byte[] Description { get; init; }

    /// <summary>The guest's RAM in bytes: all blocks.</summary>
    public long RamBytes => Blocks.Sum(b => b.Length);

    /// <summary>Where block <paramref name="index"/> starts in the GuestMemory VM: the blocks one after another from 0, in stream order.</summary>
    public ulong BlockAddress(int index)
    {
        ulong address = 0;
        for (int i = 0; i < index; i++) address += (ulong)Blocks[i].Length;
        return address;
    }

    private const uint Magic = 0x4d565147; // "GQVM" little-endian
    private const int Version = 1;

    /// <summary>Writes the state (the store's manifests and the move preamble carry it).</summary>
    public void WriteTo(BinaryWriter w)
    {
        ArgumentNullException.ThrowIfNull(w);
        w.Write(Magic);
        w.Write(Version);
        w.Write(Machine);
        Bytes(w, Configuration);
        w.Write(Ram.SectionId);
        w.Write(Ram.InstanceId);
        w.Write(Ram.Version);
        w.Write(Blocks.Count);
        foreach (RamBlock b in Blocks)
        {
            w.Write(b.Id);
            w.Write(b.Length);
        }
        w.Write(Devices.Count);
        foreach (DeviceSection d in Devices)
        {
            w.Write(d.Id);
            w.Write(d.Instance);
            Bytes(w, d.Raw);
        }
        Bytes(w, Description);
    }

    /// <summary>Reads a state written by <see cref="WriteTo"/>, checking every count and length.</summary>
    /// <exception cref="QemuException"><see cref="QemuError.StoreCorrupt"/> naming <paramref name="what"/>.</exception>
    public static QemuVmState ReadFrom(BinaryReader r, string what)
    {
        ArgumentNullException.ThrowIfNull(r);
        try
        {
            if (r.ReadUInt32() != Magic) throw Corrupt(what, "not a GuestMemory QEMU VM state");
            int version = r.ReadInt32();
            if (version != Version) throw Corrupt(what, $"version {version}, not {Version}");
            string machine = r.ReadString();
            byte[] configuration = Bytes(r, 1 << 16, what);
            var ram = new RamSectionHeader(r.ReadUInt32(), r.ReadUInt32(), r.ReadUInt32());
            int blockCount = Count(r, QemuStreamFormat.MaxRamBlocks, what);
            if (blockCount == 0) throw Corrupt(what, "no RAM block");
            var blocks = new List<RamBlock>(blockCount);
            for (int i = 0; i < blockCount; i++)
            {
                string id = r.ReadString();
                long length = r.ReadInt64();
                if (id.Length is 0 or > 255 || length <= 0 || length % QemuStreamFormat.PageSize != 0 || length > QemuStreamFormat.MaxRamBytes)
                    throw Corrupt(what, $"RAM block '{id}' of {length} bytes");
                blocks.Add(new RamBlock(id, length));
            }
            int deviceCount = Count(r, QemuStreamFormat.MaxDeviceSections, what);
            var devices = new List<DeviceSection>(deviceCount);
            for (int i = 0; i < deviceCount; i++)
                devices.Add(new DeviceSection(r.ReadString(), r.ReadUInt32(), Bytes(r, QemuStreamFormat.MaxDeviceSectionBytes, what)));
            byte[] description = Bytes(r, QemuStreamFormat.MaxDescriptionBytes, what);
            return new QemuVmState { Machine = machine, Configuration = configuration, Ram = ram, Blocks = blocks, Devices = devices, Description = description };
        }
        catch (Exception e) when (e is EndOfStreamException or IOException or DecoderFallbackException)
        {
            throw new QemuException(QemuError.StoreCorrupt, $"{what}: {e.Message}", e);
        }
    }

    private static void Bytes(BinaryWriter w, byte[] bytes)
    {
        w.Write(bytes.Length);
        w.Write(bytes);
    }

    private static byte[] Bytes(BinaryReader r, int max, string what)
    {
        int length = Count(r, max, what);
        byte[] bytes = r.ReadBytes(length);
        if (bytes.Length != length) throw new EndOfStreamException();
        return bytes;
    }

    private static int Count(BinaryReader r, int max, string what)
    {
        int n = r.ReadInt32();
        if (n < 0 || n > max) throw Corrupt(what, $"a count of {n} (at most {max})");
        return n;
    }

    private static QemuException Corrupt(string what, string detail) => new(QemuError.StoreCorrupt, $"{what}: {detail}");
}
