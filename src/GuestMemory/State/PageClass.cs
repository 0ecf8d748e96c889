using GuestMemory.Fusion;
using GuestMemory.Host;
using GuestMemory.Phys;

namespace GuestMemory.State;

/// <summary>What a page is written as, decided from its entry and (for pages with a host page) its content.</summary>
internal enum PageClass : byte
{
    /// <summary>Not written yet (a live save's bookkeeping only).</summary>
    None = 0,
    /// <summary>ZERO: the zero page, or a private or shared page whose bytes are all zero.</summary>
    Zero,
    /// <summary>BALLOONED.</summary>
    Ballooned,
    /// <summary>RAW: a private RAM page with data.</summary>
    Raw,
    /// <summary>ROM: always with its bytes, zero or not, since a ROM page always has a host page.</summary>
    Rom,
    /// <summary>SHARED or SHARED_REF: a RAM page backed by a shared host page with data.</summary>
    Shared,
}

/// <summary>Classifies pages the same way for the header's counts and for the records.</summary>
internal static class PageClassifier
{
    /// <summary>
    /// The class of the page whose entry is <paramref name="entry"/>. Call inside an access section that
    /// loaded the entry: the content is read from the host page the entry names.
    /// </summary>
    public static PageClass Classify(MemoryRange range, ulong entry, HostMemory host)
    {
        if (range.Type == GuestPageType.Rom) return PageClass.Rom;
        return GuestPage.State(entry) switch
        {
            GuestPageState.Zero => PageClass.Zero,
            GuestPageState.Ballooned => PageClass.Ballooned,
            GuestPageState.Shared => PageContent.IsZero(Content(host, entry)) ? PageClass.Zero : PageClass.Shared,
            _ => PageContent.IsZero(Content(host, entry)) ? PageClass.Zero : PageClass.Raw,
        };
    }

    /// <summary>True for the classes whose pages need a host page when restored.</summary>
    public static bool NeedsHostPage(PageClass c) => c is PageClass.Raw or PageClass.Rom or PageClass.Shared;

    /// <summary>The bytes of the host page the entry names (inside the section that loaded the entry).</summary>
    public static ReadOnlySpan<byte> Content(HostMemory host, ulong entry) => host.PageSpan(GuestPage.Page(entry));
}

/// <summary>The figures of an image that END declares: pages needing a host page, ballooned pages.</summary>
internal struct ImageCounts
{
    public long NonZero;
    public long Ballooned;

    public void Add(PageClass cls)
    {
        if (PageClassifier.NeedsHostPage(cls)) NonZero++;
        else if (cls == PageClass.Ballooned) Ballooned++;
    }
}
