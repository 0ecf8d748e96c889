using GuestMemory.Gmm;

namespace GuestMemory.Tests.Gmm;

/// <summary>The 64-bit host page state word: every field of every state reads back what was packed, unharmed by its neighbours.</summary>
public sealed class PageWordTests
{
    [Theory]
    [InlineData((ushort)1, GmmAccount.Base, 0UL)]
    [InlineData((ushort)65535, GmmAccount.Fixed, PageWord.NilGuestFrame)]
    [InlineData((ushort)0x8001, GmmAccount.Shadow, 0x12_3456_789AUL)]
    public void Private_word_keeps_vm_account_and_guest_frame(ushort vm, GmmAccount account, ulong frame)
    {
        ulong word = PageWord.Private(vm, account, frame);

        Assert.Equal(HostPageState.Private, PageWord.State(word));
        Assert.Equal(vm, PageWord.Vm(word));
        Assert.Equal(account, PageWord.Account(word));
        Assert.Equal(frame, PageWord.GuestFrame(word));
    }

    [Fact]
    public void Guest_frame_update_and_free_mark_leave_the_other_fields_alone()
    {
        ulong word = PageWord.Private(0xBEEF, GmmAccount.Shadow, PageWord.NilGuestFrame);

        ulong updated = PageWord.WithGuestFrame(word, 0xAB_CDEF_0123);
        ulong marked = PageWord.Mark(updated);

        Assert.Equal(0xAB_CDEF_0123UL, PageWord.GuestFrame(marked));
        Assert.Equal((ushort)0xBEEF, PageWord.Vm(marked));
        Assert.Equal(GmmAccount.Shadow, PageWord.Account(marked));
        Assert.Equal(HostPageState.Private, PageWord.State(marked));
        Assert.True(PageWord.IsMarked(marked));
        Assert.False(PageWord.IsMarked(updated));
        Assert.Equal(updated, PageWord.Unmark(marked));
    }

    [Theory]
    [InlineData(1u, 0u)]
    [InlineData(PageWord.MaxReferences, uint.MaxValue)]
    [InlineData(12345u, 0xDEADBEEFu)]
    public void Shared_word_keeps_reference_count_and_checksum(uint references, uint checksum)
    {
        ulong word = PageWord.Shared(references, checksum);

        Assert.Equal(HostPageState.Shared, PageWord.State(word));
        Assert.Equal(references, PageWord.References(word));
        Assert.Equal(checksum, PageWord.Checksum(word));
    }

    [Theory]
    [InlineData(0, false)]
    [InlineData(511, true)]
    [InlineData(PageWord.NilIndex, true)]
    public void Free_word_keeps_next_index_and_zeroed_flag(int next, bool zeroed)
    {
        ulong word = PageWord.Free(next, zeroed);

        Assert.Equal(HostPageState.Free, PageWord.State(word));
        Assert.Equal(next, PageWord.NextFree(word));
        Assert.Equal(zeroed, PageWord.IsZeroed(word));
    }

    [Fact]
    public void Page_id_is_chunk_id_shifted_by_nine_or_page_index()
    {
        PageId page = PageId.From(chunkId: 0x1234, index: 0x1FF);

        Assert.Equal((0x1234u << 9) | 0x1FF, page.Value);
        Assert.Equal(0x1234, page.ChunkId);
        Assert.Equal(0x1FF, page.Index);
        Assert.False(page.IsNil);
        Assert.True(PageId.Nil.IsNil);
        Assert.Equal(PageId.MaxChunkId, PageId.From(PageId.MaxChunkId, 511).ChunkId);
    }
}
