using Spectre.Console;

namespace GuestMemory.Cli.Output;

/// <summary>
/// Progress while a command works: a spinner or bars on standard error when it is a terminal and the
/// command prints text; nothing at all otherwise (a redirected stream or <c>--json</c> gets only the
/// result, never "reading dumps: 81%").
/// </summary>
internal static class CliProgress
{
    /// <summary>True when progress shows: standard error is a terminal and the output is not JSON.</summary>
    public static bool Shows => CliConsole.ErrIsTerminal && !CliSession.Json;

    /// <summary>Runs <paramref name="work"/> with a one-line status it may change.</summary>
    public static T Status<T>(string initial, Func<Action<string>, T> work)
    {
        if (!Shows) return work(_ => { });
        return CliConsole.Err.Status().Start(UserText.Markup(initial), ctx => work(text => ctx.Status(UserText.Markup(text))));
    }

    /// <summary>
    /// Runs <paramref name="work"/> with a bar per step: it reports (step, done, total); a new step name
    /// completes the bars before it, a total of 0 makes the bar indeterminate.
    /// </summary>
    public static T Steps<T>(Func<Action<string, long, long>, T> work)
    {
        if (!Shows) return work((_, _, _) => { });
        return CliConsole.Err.Progress().AutoClear(true).Start(ctx =>
        {
            var bars = new Dictionary<string, ProgressTask>();
            return work((step, done, total) =>
            {
                if (!bars.TryGetValue(step, out ProgressTask? bar))
                {
                    foreach (ProgressTask finished in bars.Values) finished.Value = finished.MaxValue;
                    bars[step] = bar = ctx.AddTask(UserText.Markup(step), maxValue: Math.Max(1, total));
                }
                if (total > 0) bar.MaxValue = total;
                else bar.IsIndeterminate = true;
                bar.Value = Math.Min(done, bar.MaxValue);
            });
        });
    }
}
