using System.Diagnostics;
using System.Text.Json;
using GuestMemory.Tests.Fusion;
using GuestMemory.Tests.Support;

namespace GuestMemory.Tests.Cli;

/// <summary>
/// <c>gmm analyze</c> as a user runs it: <c>--json</c> is one document on standard output with a row per
/// file, the totals and the contents shared between files, valid JSON whatever else is printed; a cut
/// gzip dump is an error (it once read as one page and exit 0); a raw dump that is not whole pages is
/// counted and said so; a FIFO is refused at once instead of blocking forever.
/// </summary>
public sealed class AnalyzeCommandTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("gmm-analyze-").FullName;

    [Fact]
    public void Json_has_a_row_per_file_the_totals_and_the_contents_shared_between_files()
    {
        GmmOutcome run = GmmProcess.RunOutcome(["analyze", "--json", .. RealDataSlices.Files, RealDataSlices.Files[0]]);

        Assert.True(run.ExitCode == 0, run.All);
        using JsonDocument json = JsonDocument.Parse(run.Stdout);
        JsonElement result = json.RootElement.GetProperty("result");
        JsonElement[] rows = [.. json.RootElement.GetProperty("items").EnumerateArray()];
        Assert.Equal("analyze", json.RootElement.GetProperty("command").GetString());
        Assert.Equal(3, rows.Length);
        Assert.Equal(RealDataSlices.Files[1], rows[1].GetProperty("file").GetString());
        Assert.Equal(rows.Sum(r => r.GetProperty("pages").GetInt64()), result.GetProperty("pages").GetInt64());
        // The first file twice: every one of its distinct contents is in more than one file, and counts once in the total.
        Assert.True(result.GetProperty("distinct_in_several_files").GetInt64() >= rows[0].GetProperty("distinct_nonzero_pages").GetInt64());
        Assert.True(result.GetProperty("distinct_nonzero_pages").GetInt64() < rows.Sum(r => r.GetProperty("distinct_nonzero_pages").GetInt64()));
    }

    [Fact]
    public void A_cut_gzip_dump_is_an_error()
    {
        string cut = Path.Combine(_directory, "cut.raw.gz");
        File.WriteAllBytes(cut, File.ReadAllBytes(RealDataSlices.Files[0])[..3000]);

        GmmOutcome run = GmmProcess.RunOutcome("analyze", "--json", cut);

        Assert.True(run.ExitCode == 2, run.All);
        Assert.Equal("", run.Stdout);
        using JsonDocument error = JsonDocument.Parse(run.Stderr);
        Assert.Equal("InvalidData", error.RootElement.GetProperty("error").GetProperty("code").GetString());
        Assert.Contains("ends early", error.RootElement.GetProperty("error").GetProperty("message").GetString());
    }

    [Fact]
    public void A_raw_dump_that_is_not_whole_pages_is_counted_and_said_so()
    {
        string odd = Path.Combine(_directory, "odd.raw");
        File.WriteAllBytes(odd, Enumerable.Range(0, 10_000).Select(i => (byte)(i * 7 + 1)).ToArray());

        GmmOutcome run = GmmProcess.RunOutcome("analyze", "--json", odd);

        Assert.True(run.ExitCode == 0, run.All);
        using JsonDocument json = JsonDocument.Parse(run.Stdout);
        JsonElement row = json.RootElement.GetProperty("items")[0];
        Assert.Equal(10_000, row.GetProperty("bytes").GetInt64());
        Assert.Equal(3, row.GetProperty("pages").GetInt64());
        Assert.Contains("not a whole number of 4 KiB pages", run.Stderr);
    }

    [Fact]
    public void A_fifo_is_refused_without_blocking()
    {
        string fifo = Path.Combine(_directory, "dump.fifo");
        using (Process mkfifo = Process.Start("mkfifo", [fifo])) mkfifo.WaitForExit();

        GmmOutcome run = GmmProcess.RunOutcome("analyze", fifo); // no writer ever opens it: reading would block for good

        Assert.True(run.ExitCode == 2, run.All);
        Assert.Contains("NotARegularFile", run.Stderr);
        Assert.Contains("FIFO", run.Stderr);
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);
}
