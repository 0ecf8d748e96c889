using System.Diagnostics;
using System.IO.Compression;
using System.Text;
using GuestMemory.Qemu;
using GuestMemory.Qemu.Tests.Support;

namespace GuestMemory.Qemu.Tests.Unit;

/// <summary><see cref="CpioWriter"/>: archives that busybox's own cpio lists and unpacks to exactly what was written.</summary>
public sealed class CpioWriterTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("gmm-cpio-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Busybox_cpio_unpacks_files_folders_links_and_modes_as_written()
    {
        byte[] big = new byte[100_003];
        new Random(7).NextBytes(big);
        string archive = Path.Combine(_dir, "a.cpio");
        using (var cpio = new CpioWriter(File.Create(archive)))
        {
            cpio.AddDirectory("bin");
            cpio.AddDirectory("/etc/"[..4]); // a leading slash is dropped
            cpio.AddFile("bin/tool", big, (UnixFileMode)0x1ED);
            cpio.AddFile("etc/empty", []);
            cpio.AddFile("etc/odd-name-length", "abc"u8);
            cpio.AddSymlink("bin/link", "tool");
        }
        string into = Path.Combine(_dir, "out");
        Directory.CreateDirectory(into);
        Busybox(into, archive, "-i", "-d", "-m");
        Assert.Equal(big, File.ReadAllBytes(Path.Combine(into, "bin/tool")));
        Assert.Empty(File.ReadAllBytes(Path.Combine(into, "etc/empty")));
        Assert.Equal("abc", File.ReadAllText(Path.Combine(into, "etc/odd-name-length")));
        Assert.Equal("tool", new FileInfo(Path.Combine(into, "bin/link")).LinkTarget);
        Assert.Equal((UnixFileMode)0x1ED, File.GetUnixFileMode(Path.Combine(into, "bin/tool")));
        string listing = Busybox(into, archive, "-t");
        Assert.Equal(["bin", "etc", "bin/tool", "etc/empty", "etc/odd-name-length", "bin/link"], listing.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    [Fact]
    public void A_device_node_is_listed_as_a_character_device_with_its_numbers()
    {
        string archive = Path.Combine(_dir, "dev.cpio");
        using (var cpio = new CpioWriter(File.Create(archive))) cpio.AddCharDevice("dev/console", 5, 1);
        string verbose = Busybox(_dir, archive, "-t", "-v");
        Assert.StartsWith("crw-------", verbose);
        Assert.Contains("dev/console", verbose);
        // The header's rdev fields, read back directly: 5 and 1 in fields 10 and 11 (8 hex digits each after the magic).
        string header = Encoding.ASCII.GetString(File.ReadAllBytes(archive), 0, 110);
        Assert.Equal("070701", header[..6]);
        Assert.Equal(5, Convert.ToInt32(header.Substring(6 + 9 * 8, 8), 16));
        Assert.Equal(1, Convert.ToInt32(header.Substring(6 + 10 * 8, 8), 16));
    }

    [Fact]
    public void The_same_entries_give_the_same_bytes_and_gzip_wraps_cleanly()
    {
        byte[] First() => Build(false);
        Assert.Equal(First(), First());
        byte[] gz = Build(true);
        using var unzip = new GZipStream(new MemoryStream(gz), CompressionMode.Decompress);
        using var plain = new MemoryStream();
        unzip.CopyTo(plain);
        Assert.Equal(First(), plain.ToArray());
        Assert.Equal(0, plain.Length % 4);
        Assert.EndsWith("TRAILER!!!\0", Encoding.ASCII.GetString(plain.ToArray()).TrimEnd('\0') + "\0");
    }

    [Theory]
    [InlineData("")]
    [InlineData("/")]
    [InlineData("a/../b")]
    [InlineData("a//b")]
    [InlineData("./a")]
    [InlineData("a\0b")]
    public void Names_that_are_not_plain_relative_paths_are_refused(string name)
    {
        using var cpio = new CpioWriter(new MemoryStream());
        Assert.Equal(QemuError.InvalidArgument, Assert.Throws<QemuException>(() => cpio.AddFile(name, [])).Error);
    }

    [Fact]
    public void A_name_twice_and_negative_device_numbers_are_refused_and_nothing_is_added_after_finishing()
    {
        var output = new MemoryStream();
        var cpio = new CpioWriter(output, leaveOpen: true);
        cpio.AddDirectory("x");
        Assert.Equal(QemuError.InvalidArgument, Assert.Throws<QemuException>(() => cpio.AddFile("/x", [])).Error);
        Assert.Equal(QemuError.InvalidArgument, Assert.Throws<QemuException>(() => cpio.AddCharDevice("c", -1, 0)).Error);
        cpio.Finish();
        long length = output.Length;
        cpio.Dispose(); // idempotent finish
        Assert.Equal(length, output.Length);
        Assert.Throws<InvalidOperationException>(() => cpio.AddDirectory("y"));
    }

    private static byte[] Build(bool gzip)
    {
        var memory = new MemoryStream();
        using (Stream output = gzip ? new GZipStream(memory, CompressionLevel.Fastest, leaveOpen: true) : memory)
        using (var cpio = new CpioWriter(output, leaveOpen: true))
        {
            cpio.AddDirectory("d");
            cpio.AddFile("d/f", "content"u8);
        }
        return memory.ToArray();
    }

    private static string Busybox(string workingDirectory, string archive, params string[] args)
    {
        string busybox = QemuPrerequisites.Busybox();
        var start = new ProcessStartInfo(busybox) { WorkingDirectory = workingDirectory, RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add("cpio");
        foreach (string a in args) start.ArgumentList.Add(a);
        using Process p = Process.Start(start)!;
        using (FileStream input = File.OpenRead(archive)) input.CopyTo(p.StandardInput.BaseStream);
        p.StandardInput.Close();
        string output = p.StandardOutput.ReadToEnd(), errors = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, $"busybox cpio {string.Join(' ', args)} failed: {errors}");
        return output + (args.Contains("-v") ? errors : "");
    }
}
