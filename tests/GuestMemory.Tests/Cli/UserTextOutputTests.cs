using System.Diagnostics;
using GuestMemory.Tests.Fusion;
using GuestMemory.Tests.Support;

namespace GuestMemory.Tests.Cli;

/// <summary>
/// Text gmm did not write (file names here) is printed as it is: square brackets are not Spectre markup
/// (<c>dump[1].raw</c> once ended the process with "Unbalanced markup stack"), and control characters
/// are shown escaped, never sent to the terminal. Output to a file or pipe holds no escape code at all,
/// colours on or off, and a long file name stays whole inside its table cell.
/// </summary>
public sealed class UserTextOutputTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("gmm-names-").FullName;

    [Fact]
    public void A_file_name_with_markup_characters_is_printed_as_it_is()
    {
        string name = "dump[1] [red]x [bold] ]] [[.raw.gz";
        File.Copy(RealDataSlices.Files[0], Path.Combine(_directory, name));

        GmmOutcome run = GmmProcess.RunOutcome("analyze", Path.Combine(_directory, name));

        Assert.True(run.ExitCode == 0, run.All);
        Assert.Contains(name, run.Stdout);
    }

    [Fact]
    public void Control_characters_in_a_file_name_are_printed_visible()
    {
        string name = "evil\u001b[2J\u001b]8;;x\u0007name.raw";
        File.WriteAllBytes(Path.Combine(_directory, name), new byte[8192]);

        GmmOutcome run = GmmProcess.RunOutcome("analyze", Path.Combine(_directory, name));

        Assert.True(run.ExitCode == 0, run.All);
        Assert.Contains(@"evil\x1b[2J\x1b]8;;x\x07name.raw", run.Stdout);
        Assert.DoesNotContain("\u001b", run.All);
        Assert.DoesNotContain("\u0007", run.All);
    }

    [Fact]
    public void Redirected_output_has_no_escape_codes_and_keeps_long_names_whole()
    {
        string name = new string('n', 150) + ".raw.gz";
        File.Copy(RealDataSlices.Files[0], Path.Combine(_directory, name));

        using Process process = GmmProcess.Start(new Dictionary<string, string?> { ["NO_COLOR"] = null, ["TERM"] = "xterm-256color" }, "analyze", Path.Combine(_directory, name));
        GmmOutcome run = GmmProcess.Outcome(process);

        Assert.True(run.ExitCode == 0, run.All);
        Assert.DoesNotContain("\u001b", run.All);
        Assert.Contains(run.Stdout.Split('\n'), line => line.Contains(name, StringComparison.Ordinal));
        Assert.Equal("", run.Stderr); // no progress when standard error is not a terminal
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);
}
