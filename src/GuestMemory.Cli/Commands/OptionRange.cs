using System.CommandLine;
using System.Globalization;
using System.Numerics;

namespace GuestMemory.Cli.Commands;

/// <summary>Range checks for numeric options, with the short message every bad option gets.</summary>
internal static class OptionRange
{
    /// <summary>
    /// Adds a validator that keeps the option within [<paramref name="min"/>, <paramref name="max"/>]
    /// (<paramref name="unit"/> is appended to the message). A token that the parser itself will not
    /// accept is left to the parser's own error: the check parses exactly as System.CommandLine does
    /// (<see cref="IParsable{TSelf}"/> with its default number style, so <c>2.0</c> or <c>1e3</c> is no
    /// integer here either), because reading a value the parser refuses would throw instead of reporting.
    /// NaN is out of every range.
    /// </summary>
    public static Option<T> Within<T>(this Option<T> option, T min, T max, string unit = "") where T : INumber<T>, IParsable<T>
    {
        option.Validators.Add(r =>
        {
            if (r.Tokens.Count == 0) return; // the default value, which the code chose within range
            T value = default!;
            foreach (var token in r.Tokens)
                if (!T.TryParse(token.Value, CultureInfo.InvariantCulture, out value!)) return;
            if (!(value >= min && value <= max))
                r.AddError($"{option.Name} must be {min.ToString(null, CultureInfo.InvariantCulture)}..{max.ToString(null, CultureInfo.InvariantCulture)}{unit}, not {r.Tokens[^1].Value}");
        });
        return option;
    }
}
