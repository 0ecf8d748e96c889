using System.Text.Json.Nodes;

namespace GuestMemory.Cli.Output;

/// <summary>Builds a JSON object from named figures (numbers, text, flags, nulls), for results that are lists of figures rather than a record.</summary>
internal static class JsonFields
{
    public static JsonObject Object(IEnumerable<KeyValuePair<string, object?>> fields)
    {
        var o = new JsonObject();
        foreach ((string name, object? value) in fields)
        {
            o[name] = value switch
            {
                null => null,
                string t => JsonValue.Create(t),
                bool b => JsonValue.Create(b),
                int i => JsonValue.Create(i),
                long l => JsonValue.Create(l),
                double d => JsonValue.Create(d),
                _ => throw new ArgumentException($"{name}: {value.GetType().Name} is not a JSON figure"),
            };
        }
        return o;
    }
}
