namespace GuestMemory.Tests.Support;

/// <summary>
/// What every page of some VMs' guest RAM should read as: a copy of each page written through the test's
/// helper, null for a page that reads as zeros. <see cref="CheckContents"/> reads every page back.
/// </summary>
internal sealed class GuestRamModel
{
    private readonly Dictionary<VirtualMachine, byte[]?[]> _pages = [];

    public IReadOnlyCollection<VirtualMachine> Vms => _pages.Keys;

    public void Add(VirtualMachine vm, int pages) => _pages[vm] = new byte[]?[pages];

    public void Remove(VirtualMachine vm) => _pages.Remove(vm);

    public int PageCount(VirtualMachine vm) => _pages[vm].Length;

    /// <summary>Writes a whole page through the guest write API and records it.</summary>
    public void Write(VirtualMachine vm, int page, byte[] content)
    {
        vm.Memory.Write(Address(page), content);
        Set(vm, page, content);
    }

    /// <summary>The page now holds <paramref name="content"/> (a whole page).</summary>
    public void Set(VirtualMachine vm, int page, ReadOnlySpan<byte> content) => _pages[vm][page] = content.ToArray();

    /// <summary>The page now holds <paramref name="bytes"/> at <paramref name="offset"/>, the rest as before.</summary>
    public void SetBytes(VirtualMachine vm, int page, int offset, ReadOnlySpan<byte> bytes) =>
        bytes.CopyTo((_pages[vm][page] ??= new byte[Paging.PageSize]).AsSpan(offset));

    /// <summary>The page now reads as zeros (reset, ballooned).</summary>
    public void Clear(VirtualMachine vm, int page) => _pages[vm][page] = null;

    public byte[] Expected(VirtualMachine vm, int page) => _pages[vm][page] ?? new byte[Paging.PageSize];

    public static ulong Address(int page) => (ulong)page << Paging.PageShift;

    public static byte[] Read(VirtualMachine vm, int page)
    {
        var buffer = new byte[Paging.PageSize];
        vm.Memory.Read(Address(page), buffer);
        return buffer;
    }

    /// <summary>Reads every page of every VM and fails at the first that does not hold what the model says.</summary>
    public void CheckContents()
    {
        foreach ((VirtualMachine vm, byte[]?[] pages) in _pages)
            for (int p = 0; p < pages.Length; p++)
                if (!Read(vm, p).AsSpan().SequenceEqual(Expected(vm, p)))
                    Assert.Fail($"{vm} page {p} ({vm.Memory.GetPage(Address(p)).State}) does not hold what was written");
    }
}
