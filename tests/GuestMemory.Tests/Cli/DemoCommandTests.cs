using GuestMemory.Tests.Support;

namespace GuestMemory.Tests.Cli;

/// <summary>
/// <c>gmm demo</c> as a user runs it (a separate process, small settings): it ends with exit code 0, a
/// summary in which every mechanism did its part and nothing read back wrong, and an HTML report with its
/// plots and chunk maps; bad options give one short line and exit code 1.
/// </summary>
public sealed class DemoCommandTests : IDisposable
{
    private readonly string _report = Path.Combine(Path.GetTempPath(), $"gmm-demo-test-{Guid.NewGuid():N}.html");

    [Fact]
    public void A_short_demo_shows_every_mechanism_and_writes_the_report()
    {
        string output = GmmProcess.Run(0, "demo", "--vms", "3", "--ram-mib", "48", "--image-mib", "8", "--duration", "4", "--seed", "3", "--no-live", "--report", _report);

        Assert.Contains("Summary", output);
        Assert.Contains("Report written to", output);
        Assert.DoesNotContain("   at ", output); // no stack trace
        string html = File.ReadAllText(_report);
        Assert.Equal(4, html.Split("<svg").Length - 1); // two plots, the chunk map before and after
        Assert.Contains("<th>vm-1 saved to a file, a copy started from it on a second host</th>", html);
        Assert.Contains("<th>live move of vm-2 to the second host (TCP on loopback, guest writing)</th>", html);
        Assert.Contains("<th>guest pages that read back wrong (after restore and move too)</th><td>0</td>", html);
        Assert.Contains("<th>consistency check (Verify), both hosts</th><td>clean</td>", html);
        Assert.Matches(@"<th>saved by page sharing \(end\)</th><td>[1-9]", html);
        Assert.EndsWith("</html>", html);
    }

    [Theory]
    [InlineData("--vms", "0")]
    [InlineData("--ram-mib", "lots")]
    [InlineData("--no-such-option")]
    public void Bad_options_give_a_short_message_and_exit_code_1(params string[] options)
    {
        string output = GmmProcess.Run(1, ["demo", .. options]);

        Assert.True(output.Trim().Split('\n').Length <= 3, output);
        Assert.DoesNotContain("   at ", output);
    }

    public void Dispose() => File.Delete(_report);
}
