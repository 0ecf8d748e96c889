using GuestMemory.Gmm;

namespace GuestMemory.Tests.Examples;

/// <summary>The C# example of the README, run as written, so the README cannot drift from the API.</summary>
public sealed class ReadmeExampleTests
{
    [Fact]
    public void The_readme_example_runs_and_shares_the_identical_pages()
    {
        string stateFile = Path.Combine(Path.GetTempPath(), $"web-1-{Guid.NewGuid():N}.state");
        try
        {
            // --- README example (keep in sync with README.md) ---
            using var gmm = new GlobalMemoryManager(new GmmOptions { HostMemoryLimit = 1L << 30 });
            using var web1 = gmm.CreateVm(new VmOptions { Name = "web-1", RamSize = 256L << 20, SharingDomain = "tenant-a" });
            using var web2 = gmm.CreateVm(new VmOptions { Name = "web-2", RamSize = 256L << 20, SharingDomain = "tenant-a" });

            byte[] image = File.ReadAllBytes(typeof(object).Assembly.Location);   // the same "OS image" in both guests
            web1.Memory.Write(0x10_0000, image);
            web2.Memory.Write(0x10_0000, image);

            Span<byte> header = stackalloc byte[2];
            web2.Memory.Read(0x10_0000, header);                                // "MZ": reads go through the page entries
            using (var page = web1.Memory.MapForWrite(0x0FFF_F000)) page.Span[0] = 42;

            gmm.Fusion.RunPass();                                               // arms write monitoring
            gmm.Fusion.RunPass();                                               // merges the identical pages
            web2.Memory.InflateBalloon([0x200_0000, 0x200_1000]);               // the guest gives two pages back
            gmm.Compactor.Run();                                                // empties sparse chunks
            web1.SaveState(stateFile);                                          // atomic: temp file, flush, rename
            gmm.Verify();                                                       // recounts every chunk, page and account
            Console.WriteLine(gmm.Statistics);
            // --- end of the README example ---

            Assert.Equal("MZ"u8.ToArray(), header.ToArray());
            long imagePages = (image.Length + Paging.PageSize - 1) / Paging.PageSize;
            Assert.True(gmm.Statistics.DuplicatePages >= imagePages - 1, $"{gmm.Statistics.DuplicatePages} duplicates for a {imagePages}-page image");
            Assert.Equal(2, gmm.Statistics.BalloonedPages);
            Assert.True(new FileInfo(stateFile).Length > 0);
        }
        finally
        {
            File.Delete(stateFile);
        }
    }
}
