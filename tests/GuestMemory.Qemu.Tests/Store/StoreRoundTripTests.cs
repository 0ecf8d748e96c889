using GuestMemory.Gmm;
using GuestMemory.Qemu.Tests.Support;

namespace GuestMemory.Qemu.Tests.Store;

/// <summary>
/// A recorded real QEMU stream received into the store and written back out: the stream it writes carries
/// exactly the final page contents and device sections of the one received, from memory, from the folder,
/// and after the store is opened again by a new process's worth of state (a new Gmm).
/// </summary>
public sealed class StoreRoundTripTests
{
    [Theory]
    [InlineData(false, true)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public void A_received_VM_is_written_back_with_every_page_and_device_as_received(bool folder, bool resident)
    {
        byte[] recorded = RecordedStream.Get();
        using var host = new StoreTestHost();
        using (QemuVmStore store = host.Open(folder, resident))
        {
            StoredVmInfo info = store.Receive(new MemoryStream(recorded), "bios");

            Assert.Equal("pc-i440fx-7.2", info.Machine);
            Assert.Equal(resident, info.Resident);
            Assert.Equal(FinalPages.Of(recorded).NonZero, info.NonZeroPages);
            AssertSameGuest(recorded, Written(store, "bios"));
        }
        Assert.Equal(0, host.Gmm.Statistics.AllocatedPages);
    }

    [Fact]
    public void A_store_opened_again_on_its_folder_has_its_VMs_and_writes_them_as_received()
    {
        byte[] recorded = RecordedStream.Get();
        using var first = new StoreTestHost();
        using (QemuVmStore store = first.Open())
        {
            store.Receive(new MemoryStream(recorded), "one");
            store.Receive(new MemoryStream(recorded), "two");
        }
        using var second = new GlobalMemoryManager(new GmmOptions { HostMemoryLimit = 256L << 20 });
        using (QemuVmStore reopened = QemuVmStore.Open(second, new QemuStoreOptions { Directory = first.Folder }))
        {
            Assert.Equal(["one", "two"], reopened.List().Select(v => v.Name));
            AssertSameGuest(recorded, Written(reopened, "two"));
        }
        second.Verify();
    }

    [Fact]
    public void Two_copies_of_a_VM_keep_its_contents_once_on_disk_and_in_memory()
    {
        byte[] recorded = RecordedStream.Get();
        using var host = new StoreTestHost();
        using QemuVmStore store = host.Open(folder: true, resident: true);
        store.Receive(new MemoryStream(recorded), "one");
        long oneFolder = StoreBytes(host.Folder);
        long oneHost = host.Gmm.Statistics.AllocatedPages;

        store.Receive(new MemoryStream(recorded), "two");

        IReadOnlyList<StoredVmInfo> list = store.List();
        Assert.All(list, v => Assert.Equal(0, v.AlonePages));
        Assert.All(list, v => Assert.Equal(v.NonZeroPages, v.SharedPages));
        Assert.True(StoreBytes(host.Folder) - oneFolder < oneFolder / 4, "the second copy's files hold no page content");
        Assert.True(host.Gmm.Statistics.AllocatedPages < oneHost * 5 / 4, "fusion shares the second copy's pages with the first");
    }

    [Fact]
    public void Deleting_VMs_removes_their_files_and_gives_their_pages_back()
    {
        byte[] recorded = RecordedStream.Get();
        using var host = new StoreTestHost();
        using QemuVmStore store = host.Open(folder: true, resident: true);
        store.Receive(new MemoryStream(recorded), "one");
        store.Receive(new MemoryStream(recorded), "two");

        store.Delete("one");
        AssertSameGuest(recorded, Written(store, "two"));
        store.Delete("two");

        Assert.Empty(store.List());
        Assert.DoesNotContain(Directory.GetFiles(host.Folder), f => f.EndsWith(".gqp", StringComparison.Ordinal) || f.EndsWith(".gqvm", StringComparison.Ordinal));
        Assert.Equal(0, host.Gmm.Statistics.AllocatedPages);
        Assert.Equal(QemuError.StoredVmNotFound, Assert.Throws<QemuException>(() => store.Delete("one")).Error);
    }

    [Fact]
    public void Names_are_checked_and_taken_once()
    {
        using var host = new StoreTestHost();
        using QemuVmStore store = host.Open(folder: false);
        store.Receive(new MemoryStream(RecordedStream.Get()), "one");

        Assert.Equal(QemuError.StoredVmExists, Assert.Throws<QemuException>(() => store.Receive(new MemoryStream(RecordedStream.Get()), "one")).Error);
        Assert.Equal(QemuError.InvalidArgument, Assert.Throws<QemuException>(() => store.Receive(new MemoryStream(RecordedStream.Get()), "../x")).Error);
        Assert.Equal(QemuError.StoredVmNotFound, Assert.Throws<QemuException>(() => store.WriteStream("two", new MemoryStream())).Error);
        Assert.Single(store.List());
    }

    [Fact]
    public void A_second_writer_of_a_folder_is_refused_but_a_reader_is_not()
    {
        using var host = new StoreTestHost();
        using QemuVmStore store = host.Open();
        store.Receive(new MemoryStream(RecordedStream.Get()), "one");

        Assert.Equal(QemuError.StoreBusy, Assert.Throws<QemuException>(() => host.Open()).Error);
        using QemuVmStore reader = QemuVmStore.Open(host.Gmm, new QemuStoreOptions { Directory = host.Folder, ReadOnly = true });
        Assert.Equal("one", Assert.Single(reader.List()).Name);
        Assert.Equal(QemuError.InvalidArgument, Assert.Throws<QemuException>(() => reader.Delete("one")).Error);
    }

    internal static byte[] Written(QemuVmStore store, string name)
    {
        var output = new MemoryStream();
        store.WriteStream(name, output);
        return output.ToArray();
    }

    internal static void AssertSameGuest(byte[] expected, byte[] actual)
    {
        FinalPages want = FinalPages.Of(expected), got = FinalPages.Of(actual);
        Assert.Equal(want.Machine, got.Machine);
        Assert.Equal(want.Devices, got.Devices);
        Assert.Equal(want.Pages.Count, got.Pages.Count);
        foreach (var (key, hash) in want.Pages) Assert.Equal(hash, got.Pages[key]);
    }

    internal static long StoreBytes(string folder) =>
        Directory.GetFiles(folder).Where(f => !f.EndsWith("store.lock", StringComparison.Ordinal)).Sum(f => new FileInfo(f).Length);
}
