using System.Runtime.InteropServices;

namespace GuestMemory.Host;

/// <summary>
/// The one page of zeros that every unbacked guest page maps to for reading (the seed's zero page).
/// It is made read-only with mprotect, so even an unsafe write through a mapping faults instead of
/// silently changing what every zero page reads as.
/// </summary>
internal static unsafe class ZeroPage
{
    private static readonly byte* s_page = Create();

    /// <summary>Host address of the zero page.</summary>
    public static byte* Address => s_page;

    /// <summary>The zero page, read-only.</summary>
    public static ReadOnlySpan<byte> Span => new(s_page, Paging.PageSize);

    private static byte* Create()
    {
        nint page = LinuxNative.MapAnonymousNoReserve(Paging.PageSize);
        if (page == 0) throw new GmmException(GmmError.HostOutOfMemory, $"cannot map the zero page (errno {Marshal.GetLastPInvokeError()})");
        LinuxNative.Mprotect(page, Paging.PageSize, LinuxNative.ProtRead);
        return (byte*)page;
    }
}
