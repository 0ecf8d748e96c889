namespace GuestMemory.Qemu;

/// <summary>
/// The constants of QEMU's precopy migration stream, version 3, as QEMU 7.2 writes it (QEMU's
/// migration/savevm.c and migration/ram.c define them; this layer reads and writes the format with its
/// own code). All integers in the stream are big-endian.
/// </summary>
/// <remarks>
/// The stream: magic <c>QEVM</c>, version 3, a configuration section (the machine type), a
/// <c>SECTION_START</c> of the iterative <c>ram</c> section (the list of RAM blocks), any number of
/// <c>SECTION_PART</c>s of it (the precopy passes), its <c>SECTION_END</c> (the final pass, guest stopped),
/// the devices' <c>SECTION_FULL</c>s, <c>EOF</c>, and the JSON description of the devices
/// (<c>VMDESCRIPTION</c>). Every section but the configuration ends with a footer (0x7e and the section id).
/// </remarks>
public static class QemuStreamFormat
{
    /// <summary>"QEVM".</summary>
    public const uint Magic = 0x5145564d;
    /// <summary>What a multifd channel starts with instead of <see cref="Magic"/> (its own connections beside the main stream).</summary>
    internal const uint MultifdMagic = 0x11223344;
    /// <summary>The only stream version taken.</summary>
    public const uint StreamVersion = 3;
    /// <summary>QEMU's target page on x86: every RAM record is one page of this size.</summary>
    public const int PageSize = 4096;

    /// <summary>Section type bytes.</summary>
    internal const byte Eof = 0x00, SectionStart = 0x01, SectionPart = 0x02, SectionEnd = 0x03, SectionFull = 0x04,
        Subsection = 0x05, VmDescription = 0x06, Configuration = 0x07, Command = 0x08, Footer = 0x7e;

    /// <summary>RAM record flags, in the low 12 bits of each record's 64-bit word (the page address is the rest).</summary>
    internal const ulong FlagZero = 0x02, FlagMemSize = 0x04, FlagPage = 0x08, FlagEos = 0x10, FlagContinue = 0x20,
        FlagXbzrle = 0x40, FlagHook = 0x80, FlagCompressPage = 0x100, FlagMultifdFlush = 0x200, FlagMask = 0xfff;

    /// <summary>The RAM section's name and the only version of it taken.</summary>
    internal const string RamSectionName = "ram";
    internal const uint RamSectionVersion = 4;

    /// <summary>Migration commands (<c>QEMU_VM_COMMAND</c>): only the return path is ever written, by a resume that wants the target's verdict.</summary>
    internal const ushort CommandOpenReturnPath = 1;
    /// <summary>The return path's "shut" message: the target is done; its 32-bit value is non-zero on failure.</summary>
    internal const ushort ReturnShut = 1;

    /// <summary>Limits that bound what a stream can make this process allocate.</summary>
    internal const int MaxRamBlocks = 1024, MaxDeviceSectionBytes = 64 << 20, MaxDescriptionBytes = 64 << 20, MaxDeviceSections = 4096;
    /// <summary>The largest RAM a stream may declare (1 TiB, the most a guest of this layer has).</summary>
    internal const long MaxRamBytes = 1L << 40;

    /// <summary>What a command number in the stream asks for, in the words of the capability that sends it.</summary>
    internal static string CommandName(ushort command) => command switch
    {
        1 => "a return path (capability return-path, or postcopy-ram which needs one)",
        2 => "a ping (capability return-path or postcopy-ram)",
        3 or 4 or 5 or 6 or 7 => "postcopy (capability postcopy-ram)",
        8 => "COLO (capability x-colo)",
        9 or 10 => "postcopy recovery (capability postcopy-ram)",
        _ => $"migration command {command}",
    };

    /// <summary>What an unsupported RAM record flag is, named as the capability that makes QEMU send it.</summary>
    internal static string? UnsupportedFlag(ulong flags) =>
        (flags & FlagXbzrle) != 0 ? "xbzrle (capability xbzrle)"
        : (flags & FlagCompressPage) != 0 ? "compressed pages (capability compress)"
        : (flags & FlagHook) != 0 ? "RDMA (an rdma: URI)"
        : (flags & FlagMultifdFlush) != 0 ? "multifd (capability multifd)"
        : (flags & ~(FlagZero | FlagMemSize | FlagPage | FlagEos | FlagContinue) & FlagMask) != 0 ? $"RAM record flags 0x{flags:x}"
        : null;
}
